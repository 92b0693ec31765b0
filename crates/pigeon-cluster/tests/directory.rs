#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The NATS directory against a real NATS JetStream at 127.0.0.1:4222 (skipped when absent,
//! unless CI=true).

use std::time::Duration;

use pigeon_cluster::{ClusterConfig, NatsDirectory};
use pigeon_dm::SessionDirectory;
use pigeon_store::DeviceId;

async fn nats() -> Option<async_nats::Client> {
    match async_nats::connect("nats://127.0.0.1:4222").await {
        Ok(c) => Some(c),
        Err(err) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("NATS at 127.0.0.1:4222 is required in CI: {err}")
        }
        Err(err) => {
            eprintln!("skipping: no NATS at 127.0.0.1:4222 ({err})");
            None
        }
    }
}

fn config(prefix: &str, node: &str, ttl: Duration) -> ClusterConfig {
    ClusterConfig {
        heartbeat_ttl: ttl,
        heartbeat_every: ttl / 4,
        ..ClusterConfig::new(prefix, node)
    }
}

#[tokio::test]
async fn owners_are_located_across_nodes_and_released_only_by_themselves() {
    let Some(client) = nats().await else { return };
    let prefix = format!("t{}.", uuid::Uuid::now_v7().simple());
    let ttl = Duration::from_secs(10);
    let a = NatsDirectory::start(client.clone(), config(&prefix, "a", ttl))
        .await
        .unwrap();
    let b = NatsDirectory::start(client.clone(), config(&prefix, "b", ttl))
        .await
        .unwrap();
    let device = DeviceId::from_string("dev.with:odd/chars");
    assert_eq!(b.locate(&device).await.unwrap(), None);
    a.claim(&device).await.unwrap();
    assert_eq!(b.locate(&device).await.unwrap().as_deref(), Some("a"));
    // The device moved to b; a's late release must not remove b's claim.
    b.claim(&device).await.unwrap();
    a.release(&device).await.unwrap();
    assert_eq!(a.locate(&device).await.unwrap().as_deref(), Some("b"));
    b.release(&device).await.unwrap();
    assert_eq!(a.locate(&device).await.unwrap(), None);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_dead_node_stops_owning_its_devices_within_the_heartbeat_expiry() {
    let Some(client) = nats().await else { return };
    let prefix = format!("t{}.", uuid::Uuid::now_v7().simple());
    let ttl = Duration::from_secs(2);
    let live = NatsDirectory::start(client.clone(), config(&prefix, "live", ttl))
        .await
        .unwrap();
    let dying = NatsDirectory::start(client.clone(), config(&prefix, "dying", ttl))
        .await
        .unwrap();
    let device = DeviceId::from_string("d1");
    dying.claim(&device).await.unwrap();
    assert_eq!(
        live.locate(&device).await.unwrap().as_deref(),
        Some("dying")
    );
    // Dropped without shutdown: like a killed process, its heartbeat just stops.
    drop(dying);
    tokio::time::sleep(ttl + Duration::from_secs(2)).await;
    assert_eq!(live.locate(&device).await.unwrap(), None);
    live.shutdown().await;
}

//! Concurrent send load against the SQLite store, to show group commit at work.
//!
//! Run with `cargo run -p pigeon-store --release --example send_load -- [SENDERS] [SENDS_EACH] [DIR]`
//! (defaults: 64 senders, 200 sends each, a temporary directory). Each sender is its own user
//! with one device, sending to one recipient with two devices, one send in flight per sender.
//! Prints throughput and how many send requests shared each commit (fsync).

use std::sync::Arc;
use std::time::Instant;

use pigeon_store::{DeviceCopy, SendRequest, SqliteStore, Store, StoreError};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), StoreError> {
    let mut args = std::env::args().skip(1);
    let senders: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let each: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let tmp = tempfile::tempdir().map_err(|e| StoreError::Backend(e.to_string()))?;
    let dir = args
        .next()
        .map_or_else(|| tmp.path().to_path_buf(), Into::into);
    let store = Arc::new(SqliteStore::open(dir.join("send_load.db")).await?);

    let bob = store.create_user(unique("bob"), "phone".into()).await?;
    let bob_tablet = store
        .add_device(bob.user_id.clone(), "tablet".into())
        .await?;
    let mut alices = Vec::new();
    for i in 0..senders {
        alices.push(
            store
                .create_user(unique(&format!("alice{i}")), "laptop".into())
                .await?,
        );
    }

    let before = store.commit_stats();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for alice in alices {
        let store = store.clone();
        let recipient = bob.user_id.clone();
        let targets = [bob.device_id.clone(), bob_tablet.device_id.clone()];
        tasks.push(tokio::spawn(async move {
            for i in 0..each {
                let copies = targets
                    .iter()
                    .map(|d| DeviceCopy {
                        device_id: d.clone(),
                        envelope_type: 1,
                        ciphertext: "x".repeat(256),
                    })
                    .collect();
                store
                    .send(SendRequest {
                        sender_device: alice.device_id.clone(),
                        client_msg_id: format!("m{i}"),
                        recipient_user: recipient.clone(),
                        copies,
                        trace_context: None,
                    })
                    .await?;
            }
            Ok::<(), pigeon_store::SendError>(())
        }));
    }
    for t in tasks {
        t.await
            .map_err(|e| StoreError::Backend(e.to_string()))?
            .map_err(|e| StoreError::Backend(e.to_string()))?;
    }
    let elapsed = started.elapsed();
    let after = store.commit_stats();
    let requests = after.requests - before.requests;
    let commits = after.commits - before.commits;
    let stats = pigeon_store::CommitStats { commits, requests };
    println!(
        "{senders} senders x {each} sends: {requests} sends in {:.2} s = {:.0} sends/s; \
         {commits} commits, {:.1} sends per commit",
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64(),
        stats.requests_per_commit()
    );
    store.close().await;
    Ok(())
}

fn unique(name: &str) -> String {
    format!("{name}-{}", uuid::Uuid::now_v7().simple())
}

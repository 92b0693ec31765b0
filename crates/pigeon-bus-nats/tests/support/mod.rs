//! Shared by the integration tests: reaching the NATS server (or skipping loudly), unique
//! names, and sweeping the streams earlier runs left behind.
//!
//! With `CI=true` a missing server is a failure; elsewhere the test prints why it skipped.

// Not every test file uses every helper; failing loudly is the point of a test helper.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use async_nats::jetstream;
use futures::StreamExt as _;
use pigeon_bus::{Deliveries, Delivery};
use pigeon_bus_nats::{NatsBackend, NatsConfig};
use tokio::sync::OnceCell;

/// Prefix of every stream the tests create, so sweeps touch nothing else.
pub(crate) const TEST_PREFIX: &str = "PIGEONTEST_";

/// The server: `PIGEON_NATS_URL`, or the local default.
pub(crate) fn nats_url() -> String {
    std::env::var("PIGEON_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// True when running in CI, where nothing may be skipped.
pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Fails the test in CI; elsewhere prints why it is skipped. Returns `None` for "skip".
pub(crate) fn skip_or_fail<T>(why: &str) -> Option<T> {
    assert!(!in_ci(), "CI=true and {why}");
    eprintln!("SKIPPED (not in CI): {why}");
    None
}

/// Test configuration: the test prefix, short retention, quick fetch expiry.
pub(crate) fn test_config() -> NatsConfig {
    NatsConfig::new()
        .stream_prefix(TEST_PREFIX)
        .max_age(Duration::from_secs(15 * 60))
        .fetch_expiry(Duration::from_millis(200))
}

/// A backend on the test server, or `None` (skip) when there is none and we are not in CI.
pub(crate) async fn backend() -> Option<NatsBackend> {
    backend_with(test_config()).await
}

/// Like [`backend`], with a given configuration.
pub(crate) async fn backend_with(config: NatsConfig) -> Option<NatsBackend> {
    let url = nats_url();
    match NatsBackend::connect(&url, config).await {
        Ok(backend) => {
            sweep_once(backend.client().clone()).await;
            Some(backend)
        }
        Err(err) => skip_or_fail(&format!(
            "no JetStream-enabled NATS server at {url} ({err}); start one with \
             `nats-server -js` or set PIGEON_NATS_URL"
        )),
    }
}

/// A topic or group name no other test or run uses.
pub(crate) fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// Deletes test streams idle for more than ten minutes, once per test process, so repeated
/// runs do not pile up streams on the server.
async fn sweep_once(client: async_nats::Client) {
    static SWEPT: OnceCell<()> = OnceCell::const_new();
    SWEPT
        .get_or_init(|| async move {
            let js = jetstream::new(client);
            let mut streams = js.streams();
            let cutoff = SystemTime::now() - Duration::from_secs(600);
            let mut stale = Vec::new();
            while let Some(Ok(info)) = streams.next().await {
                let idle = SystemTime::from(info.state.last_timestamp) < cutoff
                    && SystemTime::from(info.created) < cutoff;
                if info.config.name.starts_with(TEST_PREFIX) && idle {
                    stale.push(info.config.name.clone());
                }
            }
            for name in stale {
                let _ = js.delete_stream(&name).await;
            }
        })
        .await;
}

/// Deletes the stream of `topic` (best effort).
pub(crate) async fn delete_stream(backend: &NatsBackend, topic: &str) {
    let js = jetstream::new(backend.client().clone());
    let _ = js.delete_stream(backend.stream_name(topic)).await;
}

/// One fetch of up to `max` deliveries.
pub(crate) async fn fetch(
    deliveries: Box<dyn Deliveries>,
    max: usize,
) -> (Box<dyn Deliveries>, Vec<Delivery>) {
    let (deliveries, result) = deliveries.next_batch(max).await;
    (deliveries, result.expect("fetch failed"))
}

/// Fetches until `n` deliveries arrived or `within` passed.
pub(crate) async fn fetch_n(
    mut deliveries: Box<dyn Deliveries>,
    n: usize,
    within: Duration,
) -> (Box<dyn Deliveries>, Vec<Delivery>) {
    let deadline = tokio::time::Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < n && tokio::time::Instant::now() < deadline {
        let (d, batch) = fetch(deliveries, n - got.len()).await;
        deliveries = d;
        got.extend(batch);
    }
    (deliveries, got)
}

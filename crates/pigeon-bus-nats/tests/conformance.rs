//! The `pigeon-bus` conformance suite against JetStream: the same cases the in-process backend
//! passes, so services can switch backends without changing behaviour.
//!
//! Every `open` makes a new connection, like a restarted process, and JetStream keeps what was
//! published and not acked, so the harness is durable. Cases use fresh topic and group names.
//! Without a server the cases skip (outside CI) or fail (with `CI=true`).

// Test helpers: failing loudly on a broken expectation is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use futures::future::BoxFuture;
use pigeon_bus::Backend;
use pigeon_bus::conformance::Harness;
use pigeon_bus_nats::NatsBackend;

struct Nats;

impl Nats {
    /// The harness, or `None` to skip when there is no server outside CI.
    async fn available() -> Option<Self> {
        support::backend().await.map(|_| Nats)
    }
}

impl Harness for Nats {
    fn open(&self) -> BoxFuture<'_, Arc<dyn Backend>> {
        Box::pin(async move {
            let backend = NatsBackend::connect(&support::nats_url(), support::test_config())
                .await
                .expect("connect to NATS");
            Arc::new(backend) as Arc<dyn Backend>
        })
    }

    fn durable(&self) -> bool {
        true
    }
}

pigeon_bus::conformance_tests!(
    match Nats::available().await {
        Some(harness) => harness,
        None => return,
    },
    durable
);

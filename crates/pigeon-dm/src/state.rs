//! What every handler shares.

use std::sync::Arc;

use pigeon_store::Store;

use crate::DmConfig;
use crate::ratelimit::RateLimiter;
use crate::spans::Metrics;

/// The server's shared state: cheap to clone.
#[derive(Clone)]
pub struct DmState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    config: DmConfig,
    send_limiter: RateLimiter,
    vapid_public_key: Option<String>,
    metrics: Metrics,
}

impl DmState {
    /// State over `store`. `vapid_public_key` is what `GET /v1/push/vapid` answers (the
    /// applicationServerKey browsers subscribe with), when Web Push is set up.
    pub fn new(store: Arc<dyn Store>, config: DmConfig, vapid_public_key: Option<String>) -> Self {
        let send_limiter = RateLimiter::new(config.sends_per_second, config.send_burst);
        Self {
            inner: Arc::new(Inner {
                store,
                config,
                send_limiter,
                vapid_public_key,
                metrics: Metrics::new(),
            }),
        }
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    pub(crate) fn config(&self) -> &DmConfig {
        &self.inner.config
    }

    pub(crate) fn send_limiter(&self) -> &RateLimiter {
        &self.inner.send_limiter
    }

    pub(crate) fn vapid_public_key(&self) -> Option<&str> {
        self.inner.vapid_public_key.as_deref()
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
}

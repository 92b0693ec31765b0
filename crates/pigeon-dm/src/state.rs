//! What every handler shares.

use std::sync::Arc;

use pigeon_bus::Bus;
use pigeon_push::Pusher;
use pigeon_store::Store;
use tokio_util::task::TaskTracker;

use crate::DmConfig;
use crate::auth_cache::AuthCache;
use crate::directory::{LocalDirectory, SessionDirectory};
use crate::gateway::Sessions;
use crate::ratelimit::RateLimiter;
use crate::spans::Metrics;

/// The server's shared state: cheap to clone.
#[derive(Clone)]
pub struct DmState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    bus: Bus,
    config: DmConfig,
    send_limiter: RateLimiter,
    pusher: Option<Pusher>,
    sessions: Sessions,
    directory: Arc<dyn SessionDirectory>,
    tasks: TaskTracker,
    auth_cache: AuthCache,
    metrics: Metrics,
}

impl DmState {
    /// State over `store`, routing deliveries over `bus`, pushing with `pusher` when set up
    /// (its VAPID public key is what `GET /v1/push/vapid` answers).
    /// Sessions are located in process ([`LocalDirectory`]): right for a single node.
    pub fn new(store: Arc<dyn Store>, bus: Bus, config: DmConfig, pusher: Option<Pusher>) -> Self {
        let directory = Arc::new(LocalDirectory::new(config.node_id.clone()));
        Self::with_directory(store, bus, config, pusher, directory)
    }

    /// Like [`DmState::new`], with the directory that says which node holds each device's
    /// session — a shared one when several nodes serve together.
    pub fn with_directory(
        store: Arc<dyn Store>,
        bus: Bus,
        config: DmConfig,
        pusher: Option<Pusher>,
        directory: Arc<dyn SessionDirectory>,
    ) -> Self {
        let send_limiter = RateLimiter::new(config.sends_per_second, config.send_burst);
        Self {
            inner: Arc::new(Inner {
                store,
                bus,
                config,
                send_limiter,
                pusher,
                sessions: Sessions::default(),
                directory,
                tasks: TaskTracker::new(),
                auth_cache: AuthCache::default(),
                metrics: Metrics::new(),
            }),
        }
    }

    /// Live WebSocket sessions on this node.
    pub fn live_sessions(&self) -> usize {
        self.inner.sessions.len()
    }

    /// Waits for background work (pushes under way) to finish, up to `limit`.
    pub async fn drain(&self, limit: std::time::Duration) {
        self.inner.tasks.close();
        let _ = tokio::time::timeout(limit, self.inner.tasks.wait()).await;
    }

    pub(crate) fn bus(&self) -> &Bus {
        &self.inner.bus
    }

    pub(crate) fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    pub(crate) fn directory(&self) -> &dyn SessionDirectory {
        self.inner.directory.as_ref()
    }

    pub(crate) fn pusher(&self) -> Option<&Pusher> {
        self.inner.pusher.as_ref()
    }

    pub(crate) fn auth_cache(&self) -> &AuthCache {
        &self.inner.auth_cache
    }

    pub(crate) fn tasks(&self) -> &TaskTracker {
        &self.inner.tasks
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
        self.inner.pusher.as_ref().map(Pusher::vapid_public_key)
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
}

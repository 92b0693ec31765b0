//! The node's heartbeat: a KV entry refreshed well within the bucket's `max_age`, so other
//! nodes see this one as alive exactly while it keeps running. After NATS was unreachable the
//! loop claims this node's devices again, since claims made meanwhile never reached the bucket.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::kv;
use bytes::Bytes;

/// What the loop refreshes.
pub(crate) struct Beat {
    pub(crate) nodes: kv::Store,
    pub(crate) sessions: kv::Store,
    pub(crate) node_key: String,
    pub(crate) node_id: Bytes,
    pub(crate) claims: Arc<Mutex<HashSet<String>>>,
    pub(crate) every: Duration,
}

impl Beat {
    /// Writes the heartbeat once.
    pub(crate) async fn beat(&self) -> Result<(), kv::PutError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        self.nodes
            .put(&self.node_key, Bytes::from(now.to_string()))
            .await
            .map(|_| ())
    }

    /// Beats forever; runs until its task is aborted.
    pub(crate) async fn run(self) {
        let mut lost = false;
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.beat().await {
                Ok(()) if lost => {
                    lost = !self.reclaim().await;
                    if !lost {
                        tracing::info!("NATS reachable again; heartbeat and claims restored");
                    }
                }
                Ok(()) => {}
                Err(err) => {
                    if !lost {
                        tracing::warn!(%err, "heartbeat not written; other nodes will stop routing here if this lasts");
                    }
                    lost = true;
                }
            }
        }
    }

    /// Claims every device with a session here again; true when all were written.
    async fn reclaim(&self) -> bool {
        let keys: Vec<String> = lock(&self.claims).iter().cloned().collect();
        let mut all = true;
        for key in keys {
            if let Err(err) = self.sessions.put(&key, self.node_id.clone()).await {
                tracing::warn!(%err, "could not claim a device again");
                all = false;
            }
        }
        all
    }
}

/// Locks the claim set, whatever a panicking holder left.
pub(crate) fn lock(claims: &Mutex<HashSet<String>>) -> std::sync::MutexGuard<'_, HashSet<String>> {
    claims
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

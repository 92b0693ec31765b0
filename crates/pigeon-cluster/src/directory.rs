//! [`NatsDirectory`]: device → node in one KV bucket, node → heartbeat in another.
//!
//! Buckets (names from the cluster prefix, see `names`): `PIGEON_{prefix}sessions` holds the
//! node id of each device's live session; `PIGEON_{prefix}nodes` holds one entry per node,
//! refreshed every `heartbeat_every` and dropped by JetStream after `heartbeat_ttl`. An owner
//! whose heartbeat is gone is no owner: its sessions died with it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use futures::future::BoxFuture;
use pigeon_dm::{DirectoryError, SessionDirectory};
use pigeon_store::DeviceId;
use tokio::task::JoinHandle;

use crate::heartbeat::{Beat, lock};
use crate::{ClusterError, names};

/// Settings of a [`NatsDirectory`].
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The cluster's prefix (the DM topic prefix, e.g. `blue.`); it names the buckets.
    pub prefix: String,
    /// This node's id (`[A-Za-z0-9_-]`).
    pub node_id: String,
    /// How long a heartbeat keeps a node alive. Default 15 s.
    pub heartbeat_ttl: Duration,
    /// How often the heartbeat is refreshed. Default 5 s.
    pub heartbeat_every: Duration,
}

impl ClusterConfig {
    /// Node `node_id` of the cluster `prefix`, with the default heartbeat.
    pub fn new(prefix: impl Into<String>, node_id: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            node_id: node_id.into(),
            heartbeat_ttl: Duration::from_secs(15),
            heartbeat_every: Duration::from_secs(5),
        }
    }
}

/// The session directory of a cluster on NATS JetStream KV. Dropping it stops the heartbeat.
pub struct NatsDirectory {
    sessions: kv::Store,
    nodes: kv::Store,
    node_id: String,
    node_value: Bytes,
    claims: Arc<Mutex<HashSet<String>>>,
    heartbeat: JoinHandle<()>,
}

impl NatsDirectory {
    /// Opens (or creates) the cluster's buckets, writes this node's first heartbeat and keeps
    /// it fresh from then on.
    pub async fn start(
        client: async_nats::Client,
        config: ClusterConfig,
    ) -> Result<Self, ClusterError> {
        if !names::is_plain(&config.node_id) {
            return Err(ClusterError::NodeId(config.node_id));
        }
        let js = jetstream::new(client);
        let sessions = open(
            &js,
            &names::bucket(&config.prefix, "sessions"),
            Duration::ZERO,
        )
        .await?;
        let nodes = open(
            &js,
            &names::bucket(&config.prefix, "nodes"),
            config.heartbeat_ttl,
        )
        .await?;
        let claims = Arc::new(Mutex::new(HashSet::new()));
        let beat = Beat {
            nodes: nodes.clone(),
            sessions: sessions.clone(),
            node_key: config.node_id.clone(),
            node_id: Bytes::from(config.node_id.clone()),
            claims: claims.clone(),
            every: config.heartbeat_every,
        };
        beat.beat().await.map_err(|e| ClusterError::Bucket {
            bucket: names::bucket(&config.prefix, "nodes"),
            reason: e.to_string(),
        })?;
        Ok(Self {
            sessions,
            nodes,
            node_value: Bytes::from(config.node_id.clone()),
            node_id: config.node_id,
            claims,
            heartbeat: tokio::spawn(beat.run()),
        })
    }

    /// Stops the heartbeat and removes it, so other nodes stop routing here at once instead
    /// of after the heartbeat's expiry.
    pub async fn shutdown(&self) {
        self.heartbeat.abort();
        if let Err(err) = self.nodes.delete(&self.node_id).await {
            tracing::warn!(%err, "heartbeat not removed; it expires by itself");
        }
    }

    async fn owner(&self, key: &str) -> Result<Option<String>, DirectoryError> {
        let Some(value) = self.sessions.get(key).await.map_err(unavailable)? else {
            return Ok(None);
        };
        let node = String::from_utf8_lossy(&value).into_owned();
        if node == self.node_id {
            return Ok(Some(node));
        }
        let alive = self
            .nodes
            .get(names::key(&node))
            .await
            .map_err(unavailable)?;
        Ok(alive.map(|_| node))
    }

    async fn release_key(&self, key: &str) -> Result<(), DirectoryError> {
        lock(&self.claims).remove(key);
        let Some(entry) = self.sessions.entry(key).await.map_err(unavailable)? else {
            return Ok(());
        };
        if entry.operation != kv::Operation::Put || entry.value != self.node_value {
            return Ok(());
        }
        // Only the revision read: a node that claimed the device since keeps its claim.
        self.sessions
            .delete_expect_revision(key, Some(entry.revision))
            .await
            .map_err(unavailable)
    }
}

impl Drop for NatsDirectory {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

impl SessionDirectory for NatsDirectory {
    fn claim<'a>(&'a self, device: &'a DeviceId) -> BoxFuture<'a, Result<(), DirectoryError>> {
        Box::pin(async move {
            let key = names::key(device.as_str());
            lock(&self.claims).insert(key.clone());
            self.sessions
                .put(&key, self.node_value.clone())
                .await
                .map(|_| ())
                .map_err(unavailable)
        })
    }

    fn release<'a>(&'a self, device: &'a DeviceId) -> BoxFuture<'a, Result<(), DirectoryError>> {
        Box::pin(async move { self.release_key(&names::key(device.as_str())).await })
    }

    fn locate<'a>(
        &'a self,
        device: &'a DeviceId,
    ) -> BoxFuture<'a, Result<Option<String>, DirectoryError>> {
        Box::pin(async move { self.owner(&names::key(device.as_str())).await })
    }
}

/// Opens `bucket`, creating its stream first when missing. The stream is made by hand, as
/// async-nats' `create_key_value` would make it: that helper first reads account info in a
/// shape NATS servers before 2.10 do not answer.
async fn open(
    js: &jetstream::Context,
    bucket: &str,
    max_age: Duration,
) -> Result<kv::Store, ClusterError> {
    let fail = |reason: String| ClusterError::Bucket {
        bucket: bucket.to_owned(),
        reason,
    };
    if js.get_stream(format!("KV_{bucket}")).await.is_err() {
        let config = jetstream::stream::Config {
            name: format!("KV_{bucket}"),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            max_age,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: jetstream::stream::DiscardPolicy::New,
            ..jetstream::stream::Config::default()
        };
        // Another node may create it meanwhile: opening below settles it.
        if let Err(err) = js.get_or_create_stream(config).await {
            tracing::debug!(%err, bucket, "bucket stream not created here");
        }
    }
    js.get_key_value(bucket)
        .await
        .map_err(|e| fail(e.to_string()))
}

fn unavailable(err: impl std::fmt::Display) -> DirectoryError {
    DirectoryError(err.to_string())
}

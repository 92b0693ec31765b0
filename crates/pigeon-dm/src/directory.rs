//! Which node holds a device's live session, across the cluster.
//!
//! A node knows its own sessions (the gateway's registry); the directory tells the router where
//! a device is connected when that is some other node, so a delivery is sent to that node
//! instead of pushed. One node needs no shared service: [`LocalDirectory`] keeps the answer in
//! process. Several nodes share one (`pigeon-cluster`'s NATS KV directory), whose answers only
//! name nodes that are still alive.
//!
//! The directory is a routing hint, never the truth: a wrong or missing answer costs a push or
//! a delay until the device's next sync, because the mailbox holds every message.

use std::collections::HashSet;
use std::sync::Mutex;

use futures::future::BoxFuture;
use pigeon_store::DeviceId;

/// Why the directory could not answer (its backing service is unreachable, …).
#[derive(Debug, thiserror::Error)]
#[error("session directory: {0}")]
pub struct DirectoryError(pub String);

/// Where devices have live sessions. Object safe: the state holds an `Arc<dyn …>`.
pub trait SessionDirectory: Send + Sync + 'static {
    /// Records that `device` now has its live session on this node.
    fn claim<'a>(&'a self, device: &'a DeviceId) -> BoxFuture<'a, Result<(), DirectoryError>>;
    /// Forgets `device`'s session, if the directory still names this node for it.
    fn release<'a>(&'a self, device: &'a DeviceId) -> BoxFuture<'a, Result<(), DirectoryError>>;
    /// The live node holding `device`'s session, if any.
    fn locate<'a>(
        &'a self,
        device: &'a DeviceId,
    ) -> BoxFuture<'a, Result<Option<String>, DirectoryError>>;
}

/// The directory of a single node: every session it knows of is its own.
#[derive(Debug)]
pub struct LocalDirectory {
    node_id: String,
    devices: Mutex<HashSet<DeviceId>>,
}

impl LocalDirectory {
    /// A directory for the node named `node_id`.
    pub fn new(node_id: impl Into<String>) -> Self {
        Self {
            node_id: node_id.into(),
            devices: Mutex::new(HashSet::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<DeviceId>> {
        self.devices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl SessionDirectory for LocalDirectory {
    fn claim<'a>(&'a self, device: &'a DeviceId) -> BoxFuture<'a, Result<(), DirectoryError>> {
        self.lock().insert(device.clone());
        Box::pin(async { Ok(()) })
    }

    fn release<'a>(&'a self, device: &'a DeviceId) -> BoxFuture<'a, Result<(), DirectoryError>> {
        self.lock().remove(device);
        Box::pin(async { Ok(()) })
    }

    fn locate<'a>(
        &'a self,
        device: &'a DeviceId,
    ) -> BoxFuture<'a, Result<Option<String>, DirectoryError>> {
        let found = self.lock().contains(device).then(|| self.node_id.clone());
        Box::pin(async move { Ok(found) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_directory_names_this_node_while_claimed() {
        let dir = LocalDirectory::new("n1");
        let device = DeviceId::from_string("d1".to_owned());
        assert_eq!(dir.locate(&device).await.ok().flatten(), None);
        assert!(dir.claim(&device).await.is_ok());
        assert_eq!(
            dir.locate(&device).await.ok().flatten().as_deref(),
            Some("n1")
        );
        assert!(dir.release(&device).await.is_ok());
        assert_eq!(dir.locate(&device).await.ok().flatten(), None);
    }
}

//! Why the cluster directory could not start.

/// A failure setting up the directory's buckets.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// JetStream refused to create or open a KV bucket.
    #[error("cannot open KV bucket {bucket}: {reason}")]
    Bucket {
        /// The bucket's name.
        bucket: String,
        /// What JetStream said.
        reason: String,
    },
    /// The node id cannot name a KV key.
    #[error("node id {0:?} may only hold letters, digits, `-` and `_`")]
    NodeId(String),
}

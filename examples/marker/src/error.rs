//! Errors of the marker pipeline's services.

/// Why a service could not start.
#[derive(Debug, thiserror::Error)]
pub enum MarkerError {
    /// Subscribing to its input topic failed.
    #[error("subscribing to {topic}: {source}")]
    Subscribe {
        /// The topic.
        topic: String,
        /// Why.
        #[source]
        source: pigeon_bus::SubscribeError,
    },
    /// The messages file could not be opened or read.
    #[error("opening {path}: {source}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

//! What can stop a service.
//!
//! Per-order failures (a rejected order, a burnt dish) are not errors here: they become error
//! spans, `rejected` events and messages on `orders.rejected` or the dead-letter topic. Only
//! what stops a whole service is.

use std::path::PathBuf;

use crate::Service;

/// A service could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Its subscription could not be created.
    #[error("{service}: cannot subscribe to {topic}: {source}")]
    Subscribe {
        /// The service.
        service: Service,
        /// The topic.
        topic: String,
        /// Why.
        #[source]
        source: pigeon_bus::SubscribeError,
    },
    /// The kitchen's ready log could not be opened.
    #[error("cannot open the ready log {path}: {source}")]
    ReadyLog {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A service's task panicked or was aborted.
    #[error("{service} stopped unexpectedly: {reason}")]
    Crashed {
        /// Which service.
        service: &'static str,
        /// The join error.
        reason: String,
    },
}

//! Errors, one type per operation that can fail: opening a store (directory and replay I/O),
//! writing spans to disk while draining, and queries that name something not indexed.

use std::path::PathBuf;

/// [`crate::JourneyStore::open`] failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The data directory or a segment file could not be created, read or repaired.
    #[error("journey store data dir: {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Writing drained spans to the data dir failed. The spans are kept in memory anyway; only
/// their durability is lost.
#[derive(Debug, thiserror::Error)]
#[error("journey store segment {path}: {source}")]
pub struct PersistError {
    /// The segment file involved.
    pub path: PathBuf,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

/// A query could not be answered as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Lookups by value only work for keys listed in `StoreConfig::indexed_keys`.
    #[error("attribute key {0:?} is not indexed")]
    NotIndexed(String),
}

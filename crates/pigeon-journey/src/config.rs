//! Store configuration, with the defaults documented on each field. The binary layers flags,
//! environment and file on top; this crate only takes the resulting values.

use std::path::PathBuf;
use std::time::Duration;

/// How often a process indexes the spans queued for its store, by default
/// ([`crate::JourneyStore::spawn_drainer`]): soon enough that a journey shows up while someone
/// looks for it, rarely enough that indexing runs in batches.
pub const DEFAULT_DRAIN_EVERY: Duration = Duration::from_millis(100);

/// The attribute keys whose values are indexed by default: the ids a message journey is
/// looked up by across the DM server, the bus, the order pipeline and the marker pipeline.
pub const DEFAULT_INDEXED_KEYS: [&str; 5] = [
    "message.id",
    "messaging.message.id",
    "conversation.id",
    "order.id",
    "CorrelationId",
];

/// How long and how much to keep. Eviction is oldest-first (arrival order) whichever limit
/// is hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Keep at most about this many bytes of spans and indexes (as accounted by the store:
    /// 80 bytes of head, the encoded attributes, and 48 bytes of index share per span).
    /// Default 512 MiB. `None`: unbounded.
    pub max_bytes: Option<usize>,
    /// Evict spans that ended longer ago than this. Default 24 hours. `None`: forever.
    pub max_age: Option<Duration>,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            max_bytes: Some(512 << 20),
            max_age: Some(Duration::from_secs(24 * 3600)),
        }
    }
}

/// Configuration of a [`crate::JourneyStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Attribute keys whose values are indexed for lookups and journeys. Default
    /// [`DEFAULT_INDEXED_KEYS`].
    pub indexed_keys: Vec<String>,
    /// Retention limits.
    pub retention: Retention,
    /// Spans the ingest queue holds before it drops. Default 131,072 (a quarter second at
    /// 500,000 spans/s; queued spans still hold their owned strings, roughly 0.5–1 KiB each).
    pub ingest_capacity: usize,
    /// Shards of the ingest queue (fewer collisions between producer threads). Default 4.
    pub ingest_shards: usize,
    /// Persist spans under this directory and replay them at open. Default `None`
    /// (memory only).
    pub data_dir: Option<PathBuf>,
    /// Size at which a segment file is closed and a new one started. Default 64 MiB.
    pub segment_bytes: u64,
    /// How many distinct short attribute values (≤ 48 bytes, not of indexed keys) may be
    /// interned rather than stored in every span. Default 65,536.
    pub value_intern_cap: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            indexed_keys: DEFAULT_INDEXED_KEYS
                .iter()
                .map(|k| (*k).to_owned())
                .collect(),
            retention: Retention::default(),
            ingest_capacity: 128 << 10,
            ingest_shards: 4,
            data_dir: None,
            segment_bytes: 64 << 20,
            value_intern_cap: 64 << 10,
        }
    }
}

impl StoreConfig {
    /// Sets [`StoreConfig::data_dir`].
    pub fn with_data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Sets [`StoreConfig::retention`].
    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// Sets [`StoreConfig::ingest_capacity`].
    pub fn with_ingest_capacity(mut self, spans: usize) -> Self {
        self.ingest_capacity = spans;
        self
    }

    /// Sets [`StoreConfig::indexed_keys`].
    pub fn with_indexed_keys<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.indexed_keys = keys.into_iter().map(Into::into).collect();
        self
    }
}

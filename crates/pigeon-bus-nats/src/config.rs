//! How the backend talks to NATS and shapes its streams and consumers.
//!
//! Every setting has a documented default that suits a single-node JetStream; an explicit setter
//! always wins. Stream limits matter because a JetStream stream keeps messages until a limit
//! drops them (pigeon uses limits retention, so several groups can read one topic): without
//! `max_age` or `max_bytes` a topic grows forever.

use std::time::Duration;

/// Settings of a [`NatsBackend`](crate::NatsBackend).
#[derive(Debug, Clone)]
pub struct NatsConfig {
    pub(crate) stream_prefix: String,
    pub(crate) max_age: Duration,
    pub(crate) max_bytes: Option<i64>,
    pub(crate) duplicate_window: Duration,
    pub(crate) memory_storage: bool,
    pub(crate) replicas: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) fetch_expiry: Duration,
    pub(crate) max_ack_inflight: usize,
    pub(crate) connection_name: Option<String>,
    pub(crate) publish_time_header: bool,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            stream_prefix: "PIGEON_".to_owned(),
            max_age: Duration::from_secs(7 * 24 * 3600),
            max_bytes: None,
            duplicate_window: Duration::from_secs(120),
            memory_storage: false,
            replicas: 1,
            request_timeout: Duration::from_secs(10),
            fetch_expiry: Duration::from_secs(1),
            max_ack_inflight: 10_000,
            connection_name: None,
            publish_time_header: false,
        }
    }
}

impl NatsConfig {
    /// The defaults: file storage, one replica, 7 days of retention, no byte limit, a 2 minute
    /// duplicate window, streams named `PIGEON_…`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Prefix of every stream name. Default `PIGEON_`. Two deployments sharing one NATS account
    /// keep their streams apart with different prefixes.
    pub fn stream_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.stream_prefix = prefix.into();
        self
    }

    /// Messages older than this are dropped from a topic's stream. Default 7 days; zero keeps
    /// them forever.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// A topic's stream drops its oldest messages beyond this many bytes. Default: no limit.
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = Some(i64::try_from(max_bytes).unwrap_or(i64::MAX));
        self
    }

    /// Publishing the same message id again within this window stores it once (`Nats-Msg-Id`).
    /// Default 2 minutes.
    pub fn duplicate_window(mut self, window: Duration) -> Self {
        self.duplicate_window = window;
        self
    }

    /// Keep streams in memory instead of files: faster, lost when the server restarts. Default
    /// false (file storage).
    pub fn memory_storage(mut self, memory: bool) -> Self {
        self.memory_storage = memory;
        self
    }

    /// Replicas of each stream in a clustered JetStream. Default 1.
    pub fn replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas.max(1);
        self
    }

    /// Bound on JetStream API requests and on waiting for a publish acknowledgement. Default
    /// 10 s.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long one fetch waits for a first message before it returns an empty batch. Default
    /// 1 s: it bounds how long a subscription takes to notice shutdown.
    pub fn fetch_expiry(mut self, expiry: Duration) -> Self {
        self.fetch_expiry = expiry.max(Duration::from_millis(10));
        self
    }

    /// Publishes awaiting their acknowledgement at once, across the connection; further
    /// publishes wait for room. Default 10,000.
    pub fn max_ack_inflight(mut self, n: usize) -> Self {
        self.max_ack_inflight = n.max(1);
        self
    }

    /// Send the publisher's clock as `Pigeon-Published-At` with every message. Default false:
    /// consumers take JetStream's timestamp of the message as its publish time, which saves a
    /// header on every hop (see [`headers`](crate::headers) for the measured cost). Received
    /// headers are honoured either way.
    pub fn publish_time_header(mut self, on: bool) -> Self {
        self.publish_time_header = on;
        self
    }

    /// Name the connection shows in the server's monitoring. Default: none.
    pub fn connection_name(mut self, name: impl Into<String>) -> Self {
        self.connection_name = Some(name.into());
        self
    }
}

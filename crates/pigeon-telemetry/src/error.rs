//! Error types, shaped by operation: starting telemetry can fail in several ways, flushing and
//! shutting down only by running out of time or finding the sink already stopped.

use std::time::Duration;

use crate::config::ConfigError;

/// Why telemetry could not be started.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A configuration value (usually from an `OTEL_*` variable) is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The OTLP exporter could not be built (bad endpoint URL, TLS, runtime).
    #[error("OTLP exporter: {0}")]
    Exporter(String),
    /// The Prometheus exporter could not be built.
    #[error("Prometheus exporter: {0}")]
    Metrics(String),
    /// A global `tracing` subscriber is already installed (call `init` once per process; use
    /// `build_local` in tests).
    #[error("a global tracing subscriber is already set: {0}")]
    SubscriberAlreadySet(String),
    /// The log filter (`RUST_LOG`) does not parse.
    #[error("invalid log filter {filter:?}: {reason}")]
    LogFilter {
        /// The rejected directives.
        filter: String,
        /// Why.
        reason: String,
    },
    /// A telemetry thread could not be spawned.
    #[error("spawning a telemetry thread: {0}")]
    Thread(String),
}

/// Why a flush or shutdown did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlushError {
    /// Spans were still in flight when the time ran out (a slow consumer or exporter).
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The sink has been shut down.
    #[error("span sink already shut down")]
    ShutDown,
}

/// The metrics could not be encoded in Prometheus text format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("encoding metrics: {0}")]
pub struct MetricsError(pub String);

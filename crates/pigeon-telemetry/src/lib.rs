//! Telemetry every Pigeon binary shares: OpenTelemetry configured from the standard `OTEL_*`
//! variables, an in-process span sink that keeps up with message rates, OTLP export that can
//! never slow the application, Prometheus `/metrics`, and log lines that carry trace ids.
//!
//! Only binaries link this crate. Libraries use `tracing` and the `opentelemetry` API alone; the
//! globals installed by [`init`] connect them to everything here.
//!
//! # Components
//! * `config`: [`TelemetryConfig`] — typed builder over the `OTEL_*` variables; code beats env.
//! * `telemetry`: [`init`] (process globals) and [`TelemetryConfig::build_local`] (no globals,
//!   for tests), both returning the [`Telemetry`] handle.
//! * `sink`: [`SpanSink`] — bounded, sharded span queue drained by one thread into consumers
//!   and the export queue; drops and counts when full, never blocks.
//! * `processor`: [`SinkProcessor`] — the `SpanProcessor` whose `on_end` pushes into the sink.
//! * `consumer`: [`SpanConsumer`] and [`CollectingConsumer`] (in-memory, for tests).
//! * `export`: OTLP (gRPC or HTTP/protobuf) on its own thread, runtime and bounded queue.
//! * `drops`: [`SpanDrops`] — what was dropped, and why (`pigeon_spans_dropped_total`).
//! * `journey`: [`JourneyConsumer`] — converts spans into pigeon-journey records and stores them.
//! * `logs`: [`log_layer`] — fmt layer adding `trace_id`/`span_id` to every line, text or JSON.
//! * `metrics`: [`metrics_router`] — Prometheus text at `/metrics`.
//! * `signals`: [`shutdown_signal`] — Ctrl-C or SIGTERM, so every binary stops (and flushes) alike.
//! * `error`: [`TelemetryError`], [`FlushError`], [`MetricsError`].
//!
//! # In a binary
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let telemetry = pigeon_telemetry::init(pigeon_telemetry::TelemetryConfig::from_env()?)?;
//! let app = axum::Router::new().merge(telemetry.metrics_router());
//! // … serve `app`, run …
//! telemetry.shutdown()?;
//! # Ok(()) }
//! ```
//!
//! # In a test
//! ```
//! use opentelemetry::trace::{Tracer, TracerProvider};
//! let (telemetry, spans) = pigeon_telemetry::Telemetry::collecting(10_000)?;
//! telemetry.tracer("test").in_span("work", |_| {});
//! telemetry.force_flush()?;
//! assert_eq!(spans.take().len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod consumer;
mod drops;
mod error;
mod export;
mod journey;
mod logs;
mod metrics;
mod processor;
mod signals;
mod sink;
mod telemetry;

pub use config::{
    ConfigError, DEFAULT_EXPORT_BATCH_SIZE, DEFAULT_EXPORT_QUEUE_CAPACITY, DEFAULT_FLUSH_TIMEOUT,
    DEFAULT_LOG_FILTER, DEFAULT_SINK_CAPACITY, LogFormat, OtlpProtocol, OtlpTarget, SamplerConfig,
    TelemetryConfig,
};
pub use consumer::{CollectingConsumer, SpanConsumer};
pub use drops::SpanDrops;
pub use error::{FlushError, MetricsError, TelemetryError};
pub use journey::JourneyConsumer;
pub use logs::log_layer;
pub use metrics::metrics_router;
pub use processor::SinkProcessor;
pub use signals::shutdown_signal;
pub use sink::{SinkOptions, SpanSink};
pub use telemetry::{Telemetry, init};

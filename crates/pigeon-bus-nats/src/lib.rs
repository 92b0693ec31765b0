//! pigeon-bus-nats: the NATS JetStream backend of `pigeon-bus`.
//!
//! Topics become streams and consumer groups become durable pull consumers, so messages survive
//! restarts, every group sees every message, and members of a group share its work. Everything
//! about the message besides its payload travels as NATS headers, so services in other languages
//! take part with a plain NATS client and their own OpenTelemetry SDK.
//!
//! * [`NatsBackend`] (`backend`): connect, publish (awaiting the JetStream ack), open consumers.
//! * [`NatsConfig`] (`config`): stream limits, timeouts, naming; documented defaults.
//! * `stream`: one stream per topic, created on first use and remembered.
//! * `names`: the injective, stable topic → stream name mapping.
//! * `consumer`: deliveries from a long-lived pull stream, and ack / nak / term / progress.
//! * [`headers`]: envelope fields ⇄ NATS headers (`Nats-Msg-Id`, `Pigeon-Key`, trace context
//!   as-is; the publish time is JetStream's own stamp unless configured otherwise).
//! * [`raw_jetstream_baseline`] (`baseline`): what bare async-nats does, for `pigeon bench`;
//!   `tests/throughput.rs` puts the bus next to it.
//! * [`ConnectError`], [`BaselineError`] (`error`).
//!
//! Delivery semantics (retries, dead-lettering, per-key order, tracing) live in `pigeon-bus`
//! and are the same for every backend; this crate passes its conformance suite.

mod backend;
mod baseline;
mod config;
mod consumer;
mod error;
pub mod headers;
mod names;
mod stream;

pub use backend::NatsBackend;
pub use baseline::{BaselineOptions, raw_jetstream_baseline};
pub use config::NatsConfig;
pub use error::{BaselineError, ConnectError};

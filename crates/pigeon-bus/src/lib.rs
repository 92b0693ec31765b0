//! pigeon-bus: a message bus whose every message carries W3C trace context.
//!
//! * [`Bus`]: the handle services use — `publish` with a PRODUCER span `send {topic}`,
//!   `subscribe` with a CONSUMER span `process {topic}` around each handler call, per the
//!   OpenTelemetry messaging conventions.
//! * `subscription`: the consumer runtime shared by every backend — bounded in-flight work,
//!   per-key order, retries with backoff, dead-lettering to `{topic}.dlq`, panics caught, drain on
//!   shutdown.
//! * [`Envelope`], [`Headers`], [`OutgoingMessage`]: what travels; headers are an OpenTelemetry
//!   `Injector`/`Extractor`, and [`CorrelationId`] carries context inside a payload instead.
//! * [`Backend`]: the small contract a transport implements; [`MemoryBackend`] is the in-process
//!   one (optionally durable: an append-only log on disk with group commit), `pigeon-bus-nats`
//!   the NATS JetStream one.
//! * `conformance` (feature `conformance`): the suite every backend must pass.
//!
//! Libraries only use the `opentelemetry` API: spans and metrics go wherever the binary's
//! telemetry sends them.

mod backend;
mod bus;
#[cfg(feature = "conformance")]
pub mod conformance;
mod correlation;
mod envelope;
mod error;
mod handler;
mod headers;
mod instrument;
mod memory;
mod subscription;

pub use backend::{Acker, Backend, ConsumerSpec, Deliveries, Delivery, FetchResult};
pub use bus::{Bus, BusBuilder};
pub use correlation::{CORRELATION_ID_FIELD, ContextCarrier, CorrelationId};
pub use envelope::{
    Envelope, IntoTopic, MessageId, OutgoingMessage, nanos_since_epoch, time_from_nanos,
};
pub use error::{
    AckError, ConsumeError, MAX_NAME_LEN, NameError, PublishError, SubscribeError, validate_group,
    validate_topic,
};
pub use handler::{FailureAction, Handler, HandlerError, Message};
pub use headers::Headers;
pub use memory::{MemoryBackend, MemoryConfig, OpenError};
pub use subscription::{SubscribeOptions, Subscription};

/// The suffix of the topic a message is dead-lettered to.
pub const DLQ_SUFFIX: &str = ".dlq";

/// Headers a dead-lettered message carries, besides its original ones.
pub mod dlq_headers {
    /// Why it was dead-lettered.
    pub const REASON: &str = "pigeon-dlq-reason";
    /// The topic it came from.
    pub const ORIGINAL_TOPIC: &str = "pigeon-dlq-original-topic";
    /// Its id on that topic.
    pub const ORIGINAL_ID: &str = "pigeon-dlq-original-id";
    /// The consumer group that gave up on it.
    pub const GROUP: &str = "pigeon-dlq-group";
    /// How many deliveries it had.
    pub const ATTEMPTS: &str = "pigeon-dlq-attempts";
}

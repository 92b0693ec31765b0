//! The contract a transport implements. [`Bus`](crate::Bus) layers tracing, metrics, handler
//! dispatch, retries and dead-lettering on top, once, for every backend.
//!
//! A backend only has to store what is published, hand out deliveries per consumer group with an
//! attempt count, and honour ack, nack-with-delay, term and in-progress. Everything else about
//! delivery semantics lives in `subscription`.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::{AckError, ConsumeError, Envelope, PublishError, SubscribeError};

/// A transport for the bus.
pub trait Backend: Send + Sync + 'static {
    /// The `messaging.system` attribute of spans and metrics.
    fn system(&self) -> &'static str;

    /// Largest message (see [`Envelope::encoded_len`]) this backend accepts.
    fn max_message_bytes(&self) -> usize;

    /// True when the backend itself never hands out a message while an earlier message with the
    /// same key is unacknowledged in the same group. When false, the subscription orders keyed
    /// messages itself (see `subscription`).
    fn orders_keys(&self) -> bool;

    /// Stores a message. Returns once the backend has accepted it, durably when the backend is
    /// durable.
    fn publish(&self, envelope: Envelope) -> BoxFuture<'_, Result<(), PublishError>>;

    /// Opens a consumer of `spec.group` on `spec.topic`. Members of one group share its messages;
    /// every group gets every message.
    fn consume(
        &self,
        spec: ConsumerSpec,
    ) -> BoxFuture<'_, Result<Box<dyn Deliveries>, SubscribeError>>;

    /// Flushes and releases what the backend holds; called once when the bus shuts down.
    fn shutdown(&self) -> BoxFuture<'_, ()>;

    /// Whether the backend can take messages now (for readiness probes). The default says yes;
    /// a networked backend reports its connection.
    fn health(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// What a consumer is for.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// Topic to consume.
    pub topic: Arc<str>,
    /// Consumer group.
    pub group: Arc<str>,
    /// A message not acked within this time of its delivery is delivered again.
    pub ack_deadline: Duration,
    /// At most this many unacknowledged messages are handed to this consumer at once.
    pub max_in_flight: usize,
}

/// A stream of deliveries for one consumer.
///
/// `next_batch` takes the stream by value and hands it back with the batch, so the subscription
/// can keep one fetch pending across its event loop without ever cancelling it: a backend need
/// not make fetching cancel-safe.
pub trait Deliveries: Send + 'static {
    /// Waits for deliveries and returns up to `max` of them (at least one, unless a fetch timed
    /// out with nothing: an empty batch means "ask again").
    fn next_batch(self: Box<Self>, max: usize) -> BoxFuture<'static, FetchResult>;
}

/// The stream handed back by [`Deliveries::next_batch`], with what it fetched.
pub type FetchResult = (Box<dyn Deliveries>, Result<Vec<Delivery>, ConsumeError>);

/// One delivery of one message to one consumer.
pub struct Delivery {
    /// The message.
    pub envelope: Arc<Envelope>,
    /// 1 for the first delivery, counting every redelivery in this group.
    pub attempt: u32,
    /// Settles this delivery.
    pub acker: Box<dyn Acker>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("id", &self.envelope.id)
            .field("topic", &self.envelope.topic)
            .field("attempt", &self.attempt)
            .finish()
    }
}

/// Settles one delivery with the backend. Each consuming method is called at most once.
pub trait Acker: Send + Sync + 'static {
    /// Done: never deliver this message to this group again.
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), AckError>>;
    /// Not done: deliver it again after `delay`.
    fn nack(self: Box<Self>, delay: Duration) -> BoxFuture<'static, Result<(), AckError>>;
    /// Give up on it in this group (it has been dead-lettered).
    fn term(self: Box<Self>) -> BoxFuture<'static, Result<(), AckError>>;
    /// Still working on it: restart its ack deadline.
    fn in_progress(&self) -> BoxFuture<'static, Result<(), AckError>>;
}

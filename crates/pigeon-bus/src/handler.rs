//! What a subscriber runs for each message, and how it says what became of it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::Context;

use crate::Envelope;

/// A message handed to a handler.
#[derive(Debug, Clone)]
pub struct Message {
    /// The message itself.
    pub envelope: Arc<Envelope>,
    /// 1 on first delivery.
    pub attempt: u32,
    /// The consumer group handling it.
    pub group: Arc<str>,
    /// The context of the `process {topic}` span; also current while the handler is polled, so
    /// spans started inside the handler are its children.
    pub context: Context,
}

impl Message {
    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.envelope.payload
    }
}

/// A handler's failure, saying what the bus should do with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    /// Why it failed; becomes the span status message and, on dead-lettering, the reason.
    pub reason: String,
    /// What to do about it.
    pub action: FailureAction,
}

/// What the bus does with a message whose handler failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureAction {
    /// Deliver it again after the subscription's backoff, until its attempts run out.
    Retry,
    /// Deliver it again after this delay, until its attempts run out.
    RetryAfter(Duration),
    /// Do not retry: move it to `{topic}.dlq` now.
    DeadLetter,
}

impl HandlerError {
    /// A transient failure: retry with backoff.
    pub fn retry(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            action: FailureAction::Retry,
        }
    }

    /// A transient failure: retry after `delay`.
    pub fn retry_after(reason: impl Into<String>, delay: Duration) -> Self {
        Self {
            reason: reason.into(),
            action: FailureAction::RetryAfter(delay),
        }
    }

    /// A permanent failure (say, a payload that will never parse): dead-letter it now.
    pub fn dead_letter(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            action: FailureAction::DeadLetter,
        }
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for HandlerError {}

/// Handles messages of a subscription. `Ok` acks the message.
///
/// Any `Fn(Message) -> impl Future<Output = Result<(), HandlerError>>` closure is a handler.
pub trait Handler: Send + Sync + 'static {
    /// Handles one message.
    fn handle(&self, message: Message) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

impl<F, Fut> Handler for F
where
    F: Fn(Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    fn handle(&self, message: Message) -> impl Future<Output = Result<(), HandlerError>> + Send {
        self(message)
    }
}

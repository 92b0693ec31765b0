//! The consumer runtime every backend shares.
//!
//! * `runner`: one task per subscription — keeps one fetch pending, runs up to `max_in_flight`
//!   handlers at once, drains on shutdown.
//! * `process`: one delivery — the `process {topic}` span, the handler (panics caught), and the
//!   decision: ack, nack with backoff, or dead-letter to `{topic}.dlq`.
//! * `lanes`: per-key order for backends that do not keep it themselves.

mod lanes;
mod options;
mod process;
mod runner;

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use options::SubscribeOptions;

use crate::{Bus, ConsumerSpec, Handler, SubscribeError, validate_group, validate_topic};

/// A running subscription. Dropping it stops fetching at once; [`Subscription::shutdown`] also
/// waits for in-flight handlers to finish (up to the drain timeout).
#[derive(Debug)]
pub struct Subscription {
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
    topic: Arc<str>,
    group: Arc<str>,
}

impl Subscription {
    /// The topic consumed.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// Stops fetching, hands back messages not yet started, and waits for running handlers to
    /// finish and settle their messages.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take()
            && let Err(err) = task.await
        {
            tracing::error!(topic = %self.topic, group = %self.group, %err, "subscription task failed");
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

pub(crate) async fn start<H: Handler>(
    bus: Bus,
    options: SubscribeOptions,
    handler: H,
) -> Result<Subscription, SubscribeError> {
    validate_topic(&options.topic)?;
    validate_group(&options.group)?;
    options.check()?;
    let spec = ConsumerSpec {
        topic: options.topic.clone(),
        group: options.group.clone(),
        ack_deadline: options.ack_deadline,
        max_in_flight: options.max_in_flight,
    };
    let deliveries = bus.inner().backend.consume(spec).await?;
    let cancel = CancellationToken::new();
    let (topic, group) = (options.topic.clone(), options.group.clone());
    let shared = Arc::new(process::Shared::new(bus, options, handler));
    let task = tokio::spawn(runner::run(shared, deliveries, cancel.clone()));
    Ok(Subscription {
        cancel,
        task: Some(task),
        topic,
        group,
    })
}

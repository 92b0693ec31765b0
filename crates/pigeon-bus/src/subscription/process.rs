//! One delivery, start to settlement: span, handler, then ack, retry or dead-letter.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};

use super::SubscribeOptions;
use crate::handler::FailureAction;
use crate::instrument::{Instruments, WallClock, queue_time};
use crate::{
    Acker, Bus, DLQ_SUFFIX, Delivery, Envelope, Handler, HandlerError, Message, OutgoingMessage,
    dlq_headers,
};

/// What every delivery of one subscription shares.
pub(crate) struct Shared<H> {
    bus: Bus,
    handler: H,
    pub(crate) options: SubscribeOptions,
    pub(crate) attrs: Vec<KeyValue>,
    /// True when the backend does not keep per-key order, so this subscription does.
    pub(crate) orders_keys_here: bool,
    traced: bool,
    clock: WallClock,
}

impl<H: Handler> Shared<H> {
    pub(crate) fn new(bus: Bus, options: SubscribeOptions, handler: H) -> Self {
        let inner = bus.inner();
        let attrs = inner
            .instruments
            .consumer_attrs(&options.topic, &options.group);
        let orders_keys_here = !inner.backend.orders_keys();
        let traced = inner.instruments.traced();
        Self {
            bus,
            handler,
            options,
            attrs,
            orders_keys_here,
            traced,
            clock: WallClock::new(),
        }
    }

    pub(crate) fn instruments(&self) -> &Instruments {
        &self.bus.inner().instruments
    }

    /// Handles one delivery until it is settled. (Rare paths — dead-lettering, waiting to
    /// retry — are boxed so the future every delivery carries stays small.) Returns its key when this subscription keeps
    /// per-key order, so the runner can start the next message of that key.
    pub(crate) async fn process(self: Arc<Self>, delivery: Delivery) -> Option<Arc<str>> {
        let Delivery {
            envelope,
            mut attempt,
            acker,
        } = delivery;
        let lane_key = if self.orders_keys_here {
            envelope.key.clone()
        } else {
            None
        };
        let parent = self.instruments().extract(&envelope);
        let max_attempts = self.options.max_attempts;
        loop {
            if attempt > max_attempts {
                let reason = format!(
                    "not acknowledged within {} ms in {} attempts",
                    self.options.ack_deadline.as_millis(),
                    attempt - 1
                );
                Box::pin(self.dead_letter(&parent, &envelope, attempt - 1, reason, acker)).await;
                break;
            }
            let Err(err) = self.run_handler(&parent, &envelope, attempt).await else {
                settle("ack", &envelope, acker.ack().await);
                break;
            };
            let delay = match err.action {
                FailureAction::DeadLetter => {
                    Box::pin(self.dead_letter(&parent, &envelope, attempt, err.reason, acker))
                        .await;
                    break;
                }
                _ if attempt >= max_attempts => {
                    let reason = format!("{} (gave up after {attempt} attempts)", err.reason);
                    Box::pin(self.dead_letter(&parent, &envelope, attempt, reason, acker)).await;
                    break;
                }
                FailureAction::RetryAfter(delay) => delay,
                FailureAction::Retry => self.options.backoff_for(attempt),
            };
            if lane_key.is_none() {
                settle("nack", &envelope, acker.nack(delay).await);
                break;
            }
            // Keyed message on a backend without per-key order: retry here, holding the lane,
            // so later messages of the key wait; keep the backend's deadline alive meanwhile.
            Box::pin(self.wait_holding(acker.as_ref(), delay)).await;
            attempt += 1;
        }
        lane_key
    }

    async fn run_handler(
        &self,
        parent: &Context,
        envelope: &Arc<Envelope>,
        attempt: u32,
    ) -> Result<(), HandlerError> {
        let instruments = self.instruments();
        let started = Instant::now();
        let start_time = self.clock.system_at(started);
        let waited = queue_time(envelope.published_at, start_time);
        let cx = instruments.start_process(
            parent,
            envelope,
            &self.options.group,
            attempt,
            waited,
            start_time,
        );
        let message = Message {
            envelope: envelope.clone(),
            attempt,
            group: self.options.group.clone(),
            context: cx.clone(),
        };
        // The handler is called, not only polled, with its span current: closures that start
        // spans before their `async` block get the right parent too. Panics are caught in both.
        let handling = {
            let _current = cx.clone().attach();
            std::panic::catch_unwind(AssertUnwindSafe(|| self.handler.handle(message)))
        };
        let result = match handling {
            Ok(future) => AssertUnwindSafe(future)
                .catch_unwind()
                .with_context(cx.clone())
                .await
                .unwrap_or_else(|panic| Err(panicked(panic.as_ref()))),
            Err(panic) => Err(panicked(panic.as_ref())),
        };
        let ended = Instant::now();
        instruments.record_process(&self.attrs, ended - started, waited, result.is_err());
        if self.traced {
            let span = cx.span();
            if let Err(err) = &result {
                span.set_attribute(KeyValue::new("error.type", "handler_error"));
                span.add_event(
                    "exception",
                    vec![KeyValue::new("exception.message", err.reason.clone())],
                );
                span.set_status(Status::error(err.reason.clone()));
            }
            span.end_with_timestamp(self.clock.system_at(ended));
        }
        result
    }

    /// Moves a message to `{topic}.dlq` with the reason, then terms it here. If the dead-letter
    /// topic refuses it, the message is nacked instead: never dropped.
    async fn dead_letter(
        &self,
        parent: &Context,
        envelope: &Envelope,
        attempt: u32,
        reason: String,
        acker: Box<dyn Acker>,
    ) {
        let group = &self.options.group;
        let cx = self
            .instruments()
            .start_dead_letter(parent, envelope, group, attempt, &reason);
        let mut headers = envelope.headers.clone();
        for name in ["traceparent", "tracestate"] {
            headers.remove(name);
        }
        headers.insert(dlq_headers::REASON, reason.clone());
        headers.insert(dlq_headers::ORIGINAL_TOPIC, envelope.topic.to_string());
        headers.insert(dlq_headers::ORIGINAL_ID, envelope.id.to_string());
        headers.insert(dlq_headers::GROUP, group.to_string());
        headers.insert(dlq_headers::ATTEMPTS, attempt.to_string());
        let mut message = OutgoingMessage::new(
            format!("{}{DLQ_SUFFIX}", envelope.topic),
            envelope.payload.clone(),
        )
        .id(format!("{}.{group}.dlq", envelope.id))
        .headers(headers);
        if let Some(key) = &envelope.key {
            message = message.key(key);
        }
        let published = self.bus.publish(message).with_context(cx.clone()).await;
        match published {
            Ok(_) => {
                tracing::warn!(topic = %envelope.topic, group = %group, message_id = %envelope.id, %reason, "message dead-lettered");
                self.instruments().record_dead_letter(&self.attrs);
                settle("term", envelope, acker.term().await);
            }
            Err(err) => {
                tracing::error!(topic = %envelope.topic, message_id = %envelope.id, %err, "dead-letter topic refused the message; it stays queued");
                if self.traced {
                    cx.span().add_event(
                        "dead_letter_failed",
                        vec![KeyValue::new("error", err.to_string())],
                    );
                }
                settle("nack", envelope, acker.nack(self.options.backoff_max).await);
            }
        }
        if self.traced {
            cx.span().end();
        }
    }

    /// Sleeps `delay`, telling the backend the message is still being worked on.
    async fn wait_holding(&self, acker: &dyn Acker, delay: Duration) {
        let beat = (self.options.ack_deadline / 3).max(Duration::from_millis(10));
        let until = Instant::now() + delay;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            tokio::time::sleep(left.min(beat)).await;
            if let Err(err) = acker.in_progress().await {
                tracing::warn!(%err, "could not extend the ack deadline of a message waiting to retry");
            }
        }
    }
}

fn settle(what: &str, envelope: &Envelope, result: Result<(), crate::AckError>) {
    if let Err(err) = result {
        tracing::warn!(topic = %envelope.topic, message_id = %envelope.id, %err, "{what} failed; the message will be redelivered after its ack deadline");
    }
}

fn panicked(panic: &(dyn Any + Send)) -> HandlerError {
    let text = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-text panic payload");
    HandlerError::retry(format!("handler panicked: {text}"))
}

//! Deliveries from one durable pull consumer, and their acknowledgements.
//!
//! A consumer group is one durable JetStream pull consumer, named after the group: members of
//! the group pull from it and so share its messages, and each group keeps its own position.
//! Ack policy is explicit, the ack wait is the subscription's ack deadline, and redeliveries are
//! unlimited: the subscription runtime in `pigeon-bus` decides when to dead-letter, from the
//! attempt count JetStream reports (`delivered` in the ack subject).
//!
//! Fetching uses one long-lived pull stream per consumer (`Consumer::stream().messages()`):
//! async-nats keeps a pull request of `batch` messages outstanding and renews it at half, so a
//! busy consumer never waits a round trip for its next message, whereas a `fetch` per batch pays
//! one each time. (Measured with the bus at full publish load, the consumer keeps up: handled
//! equals published to within a few messages, so fetching is not the bottleneck.) The prefetch
//! is bounded: messages are only taken from the pull stream when the subscription has room for
//! them (`next_batch(max)`), and the stream asks for more only as they are taken, so at most
//! about one and a half pull batches wait locally beyond what the subscription holds.
//! `max_ack_pending` on the server is set to the subscription's bound plus that prefetch.
//! Messages prefetched but not yet handed out when a subscription stops are not lost: they
//! come back after their ack deadline (there is no async drop to hand them back sooner).
//!
//! Acks are plain publishes to the message's reply subject, not request/reply "double acks":
//! a lost ack only means a redelivery after the ack deadline, which at-least-once allows.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::pull::{
    MessagesError, MessagesErrorKind, Stream as PullStream,
};
use async_nats::{Client, Subject};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt as _, StreamExt as _};
use pigeon_bus::{AckError, ConsumeError, Deliveries, Delivery, Envelope, FetchResult, MessageId};

use crate::headers;

/// What the pull stream yields.
type PullItem = Result<async_nats::jetstream::Message, MessagesError>;

/// The pull stream of one consumer, handed back and forth by `next_batch`.
pub(crate) struct NatsDeliveries {
    pub(crate) messages: PullStream,
    pub(crate) client: Arc<Client>,
    pub(crate) topic: Arc<str>,
    /// How long a fetch waits for its first message before returning an empty batch.
    pub(crate) wait: Duration,
    /// An error met after some messages were already taken; reported by the next fetch.
    pub(crate) deferred: Option<ConsumeError>,
}

impl Deliveries for NatsDeliveries {
    fn next_batch(mut self: Box<Self>, max: usize) -> BoxFuture<'static, FetchResult> {
        Box::pin(async move {
            let result = self.fetch(max.max(1)).await;
            (self as Box<dyn Deliveries>, result)
        })
    }
}

impl NatsDeliveries {
    async fn fetch(&mut self, max: usize) -> Result<Vec<Delivery>, ConsumeError> {
        if let Some(err) = self.deferred.take() {
            return Err(err);
        }
        let first = match tokio::time::timeout(self.wait, self.messages.next()).await {
            Err(_elapsed) => return Ok(Vec::new()),
            Ok(item) => item,
        };
        let mut batch = Vec::with_capacity(max.min(64));
        batch.push(self.delivery(first)?);
        // Take what has already arrived, without waiting for more.
        while batch.len() < max {
            let Some(item) = self.messages.next().now_or_never() else {
                break;
            };
            match self.delivery(item) {
                Ok(delivery) => batch.push(delivery),
                Err(err) => {
                    self.deferred = Some(err);
                    break;
                }
            }
        }
        Ok(batch)
    }

    fn delivery(&self, item: Option<PullItem>) -> Result<Delivery, ConsumeError> {
        let message = match item {
            None => return Err(ConsumeError::Closed),
            Some(Err(err)) => return Err(consume_error(&err)),
            Some(Ok(message)) => message,
        };
        let decoded = headers::from_nats(message.headers.as_ref());
        let info = message
            .info()
            .map_err(|err| ConsumeError::Backend(format!("unreadable ack subject: {err}")))?;
        let attempt = u32::try_from(info.delivered).unwrap_or(u32::MAX).max(1);
        let server_time = SystemTime::from(info.published);
        let id = match decoded.id {
            Some(id) => MessageId::from(id),
            // A peer that did not set Nats-Msg-Id: the stream position is unique and stable
            // across redeliveries.
            None => MessageId::from(format!("{}:{}", info.stream, info.stream_sequence)),
        };
        let message = message.message;
        let reply = message.reply.ok_or_else(|| {
            ConsumeError::Backend("a JetStream message arrived without an ack subject".into())
        })?;
        let envelope = Envelope {
            id,
            topic: self.topic.clone(),
            key: decoded.key,
            headers: decoded.headers,
            payload: message.payload,
            published_at: decoded.published_at.unwrap_or(server_time),
            transient: false,
        };
        Ok(Delivery {
            envelope: Arc::new(envelope),
            attempt,
            acker: Box::new(NatsAcker {
                client: self.client.clone(),
                reply,
            }),
        })
    }
}

fn consume_error(err: &MessagesError) -> ConsumeError {
    match err.kind() {
        MessagesErrorKind::ConsumerDeleted => ConsumeError::Closed,
        _ => ConsumeError::Backend(err.to_string()),
    }
}

/// Settles one delivery by publishing to its reply subject.
pub(crate) struct NatsAcker {
    client: Arc<Client>,
    reply: Subject,
}

impl NatsAcker {
    fn send(
        client: Arc<Client>,
        reply: Subject,
        kind: AckKind,
    ) -> BoxFuture<'static, Result<(), AckError>> {
        Box::pin(async move {
            client
                .publish(reply, Bytes::from(kind))
                .await
                .map_err(|err| AckError(err.to_string()))
        })
    }
}

impl pigeon_bus::Acker for NatsAcker {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), AckError>> {
        Self::send(self.client, self.reply, AckKind::Ack)
    }

    fn nack(self: Box<Self>, delay: Duration) -> BoxFuture<'static, Result<(), AckError>> {
        let delay = (!delay.is_zero()).then_some(delay);
        Self::send(self.client, self.reply, AckKind::Nak(delay))
    }

    fn term(self: Box<Self>) -> BoxFuture<'static, Result<(), AckError>> {
        Self::send(self.client, self.reply, AckKind::Term)
    }

    fn in_progress(&self) -> BoxFuture<'static, Result<(), AckError>> {
        Self::send(self.client.clone(), self.reply.clone(), AckKind::Progress)
    }
}

//! `messaging.deliver` of one copy, open until the delivery's outcome is known.
//!
//! Seed 000 ends `messaging.deliver` with `delivery.method`, `delivery.success` and
//! `delivery.latency_ms`: its delivery is one call, done once the device acked or the push went
//! out. Here the routing, the session's frame and the device's ack, or the push, happen at
//! different times in different tasks. So the span travels with the delivery — in the router's
//! hint to the session, in the session's entry awaiting its ack, in the push task — and
//! whichever of them learns the outcome ends it. Its latency runs from the routing to that
//! outcome: the ack read off the socket, or the push service's answer.
//!
//! A delivery dropped without an outcome (a session's queue of hints full, the server shutting
//! down) ends its span without `delivery.success`: nobody knows it yet, and the mailbox still
//! holds the message.

use std::time::Instant;

use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::{Context, KeyValue};
use pigeon_store::{DeviceId, MessageId, UserId};

use crate::spans;

/// One copy of a message on its way to a device, with its open `messaging.deliver` span —
/// none when another node routed it here (that node's span ended at the hand-off) or when it is
/// a resend at a reconnect (its `messaging.deliver_websocket` is a trace of its own).
pub(crate) struct PendingDelivery {
    message_id: MessageId,
    sender: UserId,
    span: Option<DeliverSpan>,
}

/// The open `messaging.deliver`: its context, when it started, and the way last chosen.
struct DeliverSpan {
    cx: Context,
    started: Instant,
    method: &'static str,
}

impl PendingDelivery {
    /// Opens `messaging.deliver` for the copy of `message_id` (from `sender`) to `device`, as
    /// a child of the current context.
    pub(crate) fn start(message_id: MessageId, sender: UserId, device: &DeviceId) -> Self {
        let cx = spans::child(
            "messaging.deliver",
            vec![
                KeyValue::new("message.id", message_id.to_string()),
                KeyValue::new("device.id", device.to_string()),
            ],
        );
        Self {
            message_id,
            sender,
            span: Some(DeliverSpan {
                cx,
                started: Instant::now(),
                method: "websocket",
            }),
        }
    }

    /// A copy whose `messaging.deliver` is elsewhere, or nowhere.
    pub(crate) fn untraced(message_id: MessageId, sender: UserId) -> Self {
        Self {
            message_id,
            sender,
            span: None,
        }
    }

    /// The span's context (the parent of the routing); the current one when there is none.
    pub(crate) fn context(&self) -> Context {
        self.span
            .as_ref()
            .map_or_else(Context::current, |s| s.cx.clone())
    }

    pub(crate) fn message_id(&self) -> &MessageId {
        &self.message_id
    }

    pub(crate) fn sender(&self) -> &UserId {
        &self.sender
    }

    /// The way the router chose (`websocket` or `push`), until the outcome says otherwise.
    pub(crate) fn routed(&mut self, method: &'static str) {
        if let Some(span) = &mut self.span {
            span.method = method;
        }
    }

    /// The device has the message, by `method` (`websocket`, `push`, `sync`).
    pub(crate) fn delivered(mut self, method: &'static str) {
        self.routed(method);
        self.outcome(true);
    }

    /// The device acked the message some other way while this delivery waited (on a new
    /// connection, or in a sync over HTTP): delivered, by the way the router chose.
    pub(crate) fn delivered_meanwhile(self) {
        self.outcome(true);
    }

    /// The delivery by `method` failed; the message waits in the mailbox for the device's
    /// next connection or sync.
    pub(crate) fn failed(mut self, method: &'static str) {
        self.routed(method);
        self.outcome(false);
    }

    /// Handed on to `node`, which holds the device's session: the outcome is known there, in
    /// that node's `messaging.deliver_websocket` or `messaging.deliver_push`.
    pub(crate) fn forwarded(self, node: String) {
        if let Some(span) = &self.span {
            span.cx
                .span()
                .set_attribute(KeyValue::new("delivery.forwarded_to", node));
        }
    }

    fn outcome(self, success: bool) {
        if let Some(span) = &self.span {
            let cx = span.cx.span();
            cx.set_attribute(KeyValue::new("delivery.success", success));
            cx.set_attribute(KeyValue::new(
                "delivery.latency_ms",
                span.started.elapsed().as_secs_f64() * 1e3,
            ));
        }
    }
}

impl Drop for DeliverSpan {
    /// Ends the span, with the method last chosen (after an outcome's attributes, if any).
    fn drop(&mut self) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new("delivery.method", self.method));
        span.end();
    }
}

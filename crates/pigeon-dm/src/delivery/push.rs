//! Push fallback: the device is not connected, or did not ack in time.

use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{Status, TraceContextExt as _};
use opentelemetry::{Context, KeyValue};
use pigeon_push::{PushNotice, PushOutcome, PushSubscription};
use pigeon_store::DeviceId;

use super::method;
use super::outcome::PendingDelivery;
use crate::DmState;
use crate::spans;

/// Pushes "you have a message" to `device` for the entry `seq`, unless it was acked meanwhile
/// or the device has no push target, and ends `delivery` with what came of it. Never carries
/// content: message id and sender only.
pub(crate) async fn push_fallback(
    state: &DmState,
    device: DeviceId,
    seq: u64,
    parent: Context,
    delivery: PendingDelivery,
) {
    match state
        .store()
        .fetch(device.clone(), seq.saturating_sub(1), 1)
        .await
    {
        Ok(entries) if entries.first().is_some_and(|e| e.seq == seq) => {}
        Ok(_) => {
            delivery.delivered_meanwhile();
            return;
        }
        // Whether it was acked is unknown: the delivery ends without an outcome.
        Err(err) => {
            tracing::warn!(%err, "could not read the mailbox; not pushing");
            return;
        }
    }
    let Some(pusher) = state.pusher() else {
        delivery.failed("push");
        return;
    };
    let (subscription, stored) = match state.store().push_subscription(device.clone()).await {
        Ok(Some(json)) => match serde_json::from_str::<PushSubscription>(&json) {
            Ok(s) => (s, json),
            Err(err) => {
                tracing::error!(%err, device = %device, "stored push subscription is unreadable");
                delivery.failed("push");
                return;
            }
        },
        Ok(None) => {
            delivery.failed("push");
            return;
        }
        Err(err) => {
            tracing::warn!(%err, "could not read the push subscription");
            delivery.failed("push");
            return;
        }
    };
    let cx = {
        let _in_parent = parent.attach();
        spans::child(
            "messaging.deliver_push",
            vec![
                KeyValue::new("push.provider", subscription.provider()),
                KeyValue::new("delivery.method", "push_fallback"),
                KeyValue::new("message.id", delivery.message_id().to_string()),
            ],
        )
    };
    let notice = PushNotice::message(
        delivery.message_id().to_string(),
        delivery.sender().to_string(),
    );
    let result = pusher
        .send(&subscription, &notice)
        .with_context(cx.clone())
        .await;
    let span = cx.span();
    let success = matches!(result, Ok(PushOutcome::Delivered { .. }));
    span.set_attribute(KeyValue::new("push.success", success));
    match result {
        Ok(PushOutcome::Delivered { .. }) => {
            state.metrics().delivery_method.add(1, &method("push"));
        }
        Ok(PushOutcome::Gone { .. }) => {
            span.add_event("push_subscription_gone", Vec::new());
            // Only the subscription that is gone: the device may have registered a new one
            // while this push was under way.
            let deleted = state
                .store()
                .delete_push_subscription(device, Some(stored))
                .await;
            if let Err(err) = deleted {
                tracing::warn!(%err, "could not delete a gone push subscription");
            }
        }
        Err(err) => {
            span.set_status(Status::error(err.to_string()));
            tracing::warn!(%err, "push failed; the message waits in the mailbox");
        }
    }
    span.end();
    if success {
        delivery.delivered("push");
    } else {
        delivery.failed("push");
    }
}

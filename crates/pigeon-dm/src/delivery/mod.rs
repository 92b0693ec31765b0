//! Delivery routing over pigeon-bus: accept → router → gateway, and receipts back.
//!
//! After a send is stored, the API publishes a [`DeliverNotice`] on `dm.deliver`; the router
//! (a bus subscriber) opens `messaging.deliver` → `messaging.route_delivery` →
//! `messaging.check_ws_connection` per target device and wakes the device's live session, or
//! pushes when there is none. Receipts only need the sender's sessions woken (`dm.wake`), never
//! a push. The hops go over the bus so the same code routes between nodes later; the trace
//! context rides in the bus headers, so one trace runs from the sender's client to the ack.
//!
//! Nothing here is the source of truth: the mailbox is. A lost notice delays a delivery until
//! the device's next sync or reconnect; it never loses it.

mod push;
mod router;

pub(crate) use push::push_fallback;
pub use router::DeliveryRouter;

use opentelemetry::KeyValue;
use pigeon_bus::OutgoingMessage;
use pigeon_store::{DeviceId, MessageId, UserId};
use serde::{Deserialize, Serialize};

use crate::DmState;

/// Topic of delivery notices.
pub(crate) const DELIVER_TOPIC: &str = "dm.deliver";
/// Topic of wake-ups for receipts.
pub(crate) const WAKE_TOPIC: &str = "dm.wake";

/// A stored message, and the mailbox position of each of its copies.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct DeliverNotice {
    pub(crate) message_id: String,
    pub(crate) sender_user: String,
    pub(crate) targets: Vec<(String, u64)>,
}

/// Devices with something new in their mailboxes (receipts).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WakeNotice {
    pub(crate) devices: Vec<String>,
}

/// Announces a stored message to the router. A failure is logged, not returned: the message is
/// stored, and the device gets it at its next sync.
pub(crate) async fn announce(
    state: &DmState,
    message_id: &MessageId,
    sender: &UserId,
    targets: &[(DeviceId, u64)],
) {
    let notice = DeliverNotice {
        message_id: message_id.to_string(),
        sender_user: sender.to_string(),
        targets: targets
            .iter()
            .map(|(d, seq)| (d.to_string(), *seq))
            .collect(),
    };
    publish(state, DELIVER_TOPIC, &notice, message_id.as_str()).await;
}

/// Wakes every current device of `user` (new receipts in their mailboxes).
pub(crate) async fn wake_user(state: &DmState, user: &UserId) {
    match state.store().devices(user.clone()).await {
        Ok(devices) => {
            let notice = WakeNotice {
                devices: devices
                    .into_iter()
                    .map(|d| d.device_id.to_string())
                    .collect(),
            };
            publish(state, WAKE_TOPIC, &notice, user.as_str()).await;
        }
        Err(err) => tracing::warn!(%err, "could not list devices to wake"),
    }
}

async fn publish(state: &DmState, topic: &str, notice: &impl Serialize, key: &str) {
    let payload = match serde_json::to_vec(notice) {
        Ok(p) => p,
        Err(err) => {
            tracing::error!(%err, "could not encode a delivery notice");
            return;
        }
    };
    let message = OutgoingMessage::new(topic, payload).key(key);
    if let Err(err) = state.bus().publish(message).await {
        tracing::warn!(%err, topic, "delivery notice not published; devices get it at their next sync");
    }
}

/// The `delivery.method` metric attribute.
pub(crate) fn method(name: &'static str) -> [KeyValue; 1] {
    [KeyValue::new("delivery.method", name)]
}

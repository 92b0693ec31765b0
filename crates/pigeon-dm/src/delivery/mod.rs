//! Delivery routing over pigeon-bus: accept → router → gateway, and receipts back.
//!
//! After a send is stored, the API publishes a [`DeliverNotice`] on `dm.deliver`; the router
//! (a bus subscriber) opens `messaging.deliver` → `messaging.route_delivery` →
//! `messaging.check_ws_connection` per target device and wakes the device's live session, or
//! pushes when there is none. `messaging.deliver` stays open until the outcome — the ack off
//! the socket, or the push service's answer — and then carries it ([`PendingDelivery`]).
//! Receipts only need the sender's sessions woken (`dm.wake`), never a push; each receipt in a
//! wake carries the trace context it was made in, so its delivery to the sender's device
//! continues the message's trace however many receipts one wake carries. The hops go over the
//! bus so the same code routes between nodes later; the trace context rides in the bus
//! headers, so one trace runs from the sender's client to the ack and the receipt back.
//!
//! Several nodes: the router group is shared by the whole cluster, so each notice is routed
//! once, by whichever node takes it. A target device with no session on that node is looked up
//! in the [`SessionDirectory`](crate::SessionDirectory); when another live node holds its
//! session, the delivery goes on to that node's own topic `dm.node.{node_id}` (a [`NodeNotice`])
//! and that node wakes the session — or pushes, if the session has gone meanwhile. Every topic
//! starts with the configured `topic_prefix`, so clusters sharing a NATS server stay apart.
//!
//! Nothing here is the source of truth: the mailbox is. A lost notice delays a delivery until
//! the device's next sync or reconnect; it never loses it. So notices are transient on the
//! in-process bus (memory only, no durable log); a restart re-announces the recent messages
//! still owed instead ([`DeliveryRouter::reannounce_recent`]).

mod local;
mod outcome;
mod push;
mod router;

pub(crate) use outcome::PendingDelivery;
pub(crate) use push::push_fallback;
pub use router::DeliveryRouter;

use opentelemetry::{Context, KeyValue};
use pigeon_bus::OutgoingMessage;
use pigeon_store::{DeviceId, MessageId, UserId};
use serde::{Deserialize, Serialize};

use crate::{DmState, spans};

/// Topic of delivery notices, after the prefix.
const DELIVER_TOPIC: &str = "dm.deliver";
/// Topic of wake-ups for receipts, after the prefix.
const WAKE_TOPIC: &str = "dm.wake";
/// Topic of one node's deliveries, after the prefix and before the node id.
const NODE_TOPIC: &str = "dm.node.";

/// `{prefix}dm.deliver`.
pub(crate) fn deliver_topic(state: &DmState) -> String {
    format!("{}{DELIVER_TOPIC}", state.config().topic_prefix)
}

/// `{prefix}dm.wake`.
pub(crate) fn wake_topic(state: &DmState) -> String {
    format!("{}{WAKE_TOPIC}", state.config().topic_prefix)
}

/// `{prefix}dm.node.{node_id}`: where other nodes send deliveries for `node_id`'s sessions.
pub(crate) fn node_topic(state: &DmState, node_id: &str) -> String {
    format!("{}{NODE_TOPIC}{node_id}", state.config().topic_prefix)
}

/// What one node hands another: its sessions have something new.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum NodeNotice {
    /// A message for `device`'s live session, at mailbox position `seq`.
    Deliver {
        message_id: String,
        sender_user: String,
        device: String,
        seq: u64,
    },
    /// Receipts for sessions here.
    Wake { receipts: Vec<WokenReceipt> },
}

/// A stored message, and the mailbox position of each of its copies.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct DeliverNotice {
    pub(crate) message_id: String,
    pub(crate) sender_user: String,
    /// The user it was sent to (absent from a node of an older build).
    #[serde(default)]
    pub(crate) recipient_user: Option<String>,
    pub(crate) targets: Vec<(String, u64)>,
}

/// Receipts just put in mailboxes: the devices to wake.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WakeNotice {
    pub(crate) receipts: Vec<WokenReceipt>,
}

/// One receipt in a device's mailbox, with the `traceparent` of the span that made it (the
/// parent of its delivery to the device).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WokenReceipt {
    pub(crate) device: String,
    pub(crate) seq: u64,
    pub(crate) traceparent: Option<String>,
}

/// Announces a stored message to the router. A failure is logged, not returned: the message is
/// stored, and the device gets it at its next sync.
pub(crate) async fn announce(
    state: &DmState,
    message_id: &MessageId,
    sender: &UserId,
    recipient: &UserId,
    targets: &[(DeviceId, u64)],
) {
    let notice = DeliverNotice {
        message_id: message_id.to_string(),
        sender_user: sender.to_string(),
        recipient_user: Some(recipient.to_string()),
        targets: targets
            .iter()
            .map(|(d, seq)| (d.to_string(), *seq))
            .collect(),
    };
    publish(state, &deliver_topic(state), &notice, message_id.as_str()).await;
}

/// Wakes the devices of `user` that just got receipts, each given as the store appended it
/// (`(device, seq)`: no store read, the store said where it wrote) with the context it was made
/// in. One notice for them all, published in the current context.
pub(crate) async fn wake_devices<'a>(
    state: &DmState,
    user: &UserId,
    receipts: impl IntoIterator<Item = (&'a (DeviceId, u64), &'a Context)>,
) {
    let receipts: Vec<WokenReceipt> = receipts
        .into_iter()
        .map(|((device, seq), cx)| WokenReceipt {
            device: device.to_string(),
            seq: *seq,
            traceparent: spans::traceparent(cx),
        })
        .collect();
    if receipts.is_empty() {
        return;
    }
    publish(
        state,
        &wake_topic(state),
        &WakeNotice { receipts },
        user.as_str(),
    )
    .await;
}

/// Publishes `notice` on `topic` in the current trace context; failures are logged only.
///
/// Notices are transient: the in-process bus keeps them in memory only, so a notice costs no
/// write and no sync of the durable log (a tenth of the server's CPU a message, and ~0.6 ms of
/// latency, in `pigeon bench dm`). A crash loses the notices in flight; the mailbox still holds
/// every message, each device gets them at its next connection or sync, and the start-up pass
/// ([`DeliveryRouter::reannounce_recent`]) routes the messages still owed once more.
pub(crate) async fn publish(
    state: &DmState,
    topic: &str,
    notice: &impl Serialize,
    key: &str,
) -> bool {
    let payload = match serde_json::to_vec(notice) {
        Ok(p) => p,
        Err(err) => {
            tracing::error!(%err, "could not encode a delivery notice");
            return false;
        }
    };
    let message = OutgoingMessage::new(topic, payload).key(key).transient();
    match state.bus().publish(message).await {
        Ok(_) => true,
        Err(err) => {
            tracing::warn!(%err, topic, "delivery notice not published; devices get it at their next sync");
            false
        }
    }
}

/// The `delivery.method` metric attribute.
pub(crate) fn method(name: &'static str) -> [KeyValue; 1] {
    [KeyValue::new("delivery.method", name)]
}

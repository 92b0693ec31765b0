//! The router: a bus subscriber that turns notices into session wake-ups, hops to the node
//! holding the session, or pushes.
//!
//! Groups: `dm-router` on `{prefix}dm.deliver` and `{prefix}dm.wake` is one group for the whole
//! cluster (each notice is routed once); `dm-node` on `{prefix}dm.node.{node_id}` is this node's
//! alone.

use std::collections::HashMap;

use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::{Context, KeyValue};
use pigeon_bus::{HandlerError, Message, SubscribeError, SubscribeOptions, Subscription};
use pigeon_store::{DeviceId, MessageId, UserId};

use super::local::{on_node_notice, wake_for_receipt, wake_or_push};
use super::outcome::PendingDelivery;
use super::{
    DeliverNotice, NodeNotice, WakeNotice, WokenReceipt, deliver_topic, node_topic, publish,
    wake_topic,
};
use crate::DmState;
use crate::spans;

/// The group that routes deliveries and wake-ups, shared by every node of a cluster.
const ROUTER_GROUP: &str = "dm-router";
/// The group of a node's own topic (one node reads it).
const NODE_GROUP: &str = "dm-node";
/// Messages a restart looks at, newest first.
const RESTART_NEWEST: usize = 10_000;
/// How far before the newest message a restart looks: well past the ack timeout (after which
/// a message was pushed) and the milliseconds a notice is in flight.
const RESTART_WINDOW_MS: u64 = 60_000;

/// The running router; dropping it (or [`DeliveryRouter::shutdown`]) stops it.
pub struct DeliveryRouter {
    subscriptions: Vec<Subscription>,
}

impl DeliveryRouter {
    /// Subscribes this node's router to the delivery topics and to its own node topic.
    pub async fn start(state: &DmState) -> Result<Self, SubscribeError> {
        let deliver_state = state.clone();
        let deliver = state
            .bus()
            .subscribe(
                SubscribeOptions::new(deliver_topic(state), ROUTER_GROUP),
                move |m: Message| {
                    let state = deliver_state.clone();
                    async move { route(&state, &m).await }
                },
            )
            .await?;
        let wake_state = state.clone();
        let wake = state
            .bus()
            .subscribe(
                SubscribeOptions::new(wake_topic(state), ROUTER_GROUP),
                move |m: Message| {
                    let state = wake_state.clone();
                    async move { wake(&state, &m).await }
                },
            )
            .await?;
        let node_state = state.clone();
        let node = state
            .bus()
            .subscribe(
                SubscribeOptions::new(node_topic(state, &state.config().node_id), NODE_GROUP),
                move |m: Message| {
                    let state = node_state.clone();
                    async move { on_node_notice(&state, &m) }
                },
            )
            .await?;
        Ok(Self {
            subscriptions: vec![deliver, wake, node],
        })
    }

    /// Re-announces the recent messages still owed to a device (sent in the minute before the
    /// newest one, among the last 10,000): run once at start on a single node, whose
    /// in-process bus kept its notices in memory only; it takes the running router, which the
    /// notices need. The notices in flight when the process died are gone, and so are the
    /// sessions' ack timers: this routes those messages again — a wake if the device has
    /// reconnected already, else a push — instead of leaving offline devices without one. A
    /// message pushed before the crash may be pushed once more (a push names a message id,
    /// never content). Returns how many messages it announced.
    pub async fn reannounce_recent(&self, state: &DmState) -> usize {
        match state
            .store()
            .recent_unacked(RESTART_NEWEST, RESTART_WINDOW_MS)
            .await
        {
            Ok(owed) => {
                for message in &owed {
                    super::announce(
                        state,
                        &message.message_id,
                        &message.sender_user,
                        &message.recipient_user,
                        &message.targets,
                    )
                    .await;
                }
                owed.len()
            }
            Err(err) => {
                tracing::warn!(%err, "could not look for messages owed since the last run");
                0
            }
        }
    }

    /// Stops routing, letting notices being handled finish.
    pub async fn shutdown(self) {
        for s in self.subscriptions {
            s.shutdown().await;
        }
    }
}

pub(super) fn parse<T: serde::de::DeserializeOwned>(m: &Message) -> Result<T, HandlerError> {
    serde_json::from_slice(m.payload())
        .map_err(|e| HandlerError::dead_letter(format!("not a delivery notice: {e}")))
}

async fn route(state: &DmState, m: &Message) -> Result<(), HandlerError> {
    let notice: DeliverNotice = parse(m)?;
    let message_id = MessageId::from_string(notice.message_id);
    let sender = UserId::from_string(notice.sender_user);
    let recipient = notice.recipient_user.as_deref();
    for (device, seq) in notice.targets {
        route_one(
            state,
            &message_id,
            &sender,
            recipient,
            DeviceId::from_string(device),
            seq,
        )
        .await;
    }
    Ok(())
}

/// Routes the copy at `seq` of `device`'s mailbox of the message `message_id` from `sender` to
/// `recipient` (unknown in a notice from an older node).
async fn route_one(
    state: &DmState,
    message_id: &MessageId,
    sender: &UserId,
    recipient: Option<&str>,
    device: DeviceId,
    seq: u64,
) {
    let deliver = PendingDelivery::start(message_id.clone(), sender.clone(), &device);
    let route = {
        let _in_deliver = deliver.context().attach();
        let mut attrs = vec![
            KeyValue::new("recipient.device_id", device.to_string()),
            KeyValue::new("message.id", message_id.to_string()),
        ];
        if let Some(recipient) = recipient {
            attrs.push(KeyValue::new("recipient.id", recipient.to_owned()));
        }
        spans::child("messaging.route_delivery", attrs)
    };
    let forwarded_to = if state.sessions().get(&device).is_some() {
        None
    } else {
        forward(state, &route, &device, seq, message_id, sender).await
    };
    match forwarded_to {
        Some(node) => {
            route
                .span()
                .set_attribute(KeyValue::new("delivery.forwarded_to", node.clone()));
            deliver.forwarded(node);
        }
        None => wake_or_push(state, &route, device, seq, deliver),
    }
    route.span().end();
}

/// Sends the delivery to the live node holding `device`'s session, if that is another node;
/// returns that node. The hop is published inside `route`, so the trace continues there.
async fn forward(
    state: &DmState,
    route: &Context,
    device: &DeviceId,
    seq: u64,
    message_id: &MessageId,
    sender: &UserId,
) -> Option<String> {
    let node = remote_owner(state, device).await?;
    let notice = NodeNotice::Deliver {
        message_id: message_id.to_string(),
        sender_user: sender.to_string(),
        device: device.to_string(),
        seq,
    };
    publish(state, &node_topic(state, &node), &notice, device.as_str())
        .with_context(route.clone())
        .await
        .then_some(node)
}

/// The other live node holding `device`'s session. Unreachable directory: none (push instead).
async fn remote_owner(state: &DmState, device: &DeviceId) -> Option<String> {
    match state.directory().locate(device).await {
        Ok(Some(node)) if node != state.config().node_id => Some(node),
        Ok(_) => None,
        Err(err) => {
            tracing::warn!(%err, "session directory unavailable; not routing to another node");
            None
        }
    }
}

/// Receipts: wakes the sessions here, and sends the others on to the nodes holding them (one
/// directory look-up a device, one notice a node).
async fn wake(state: &DmState, m: &Message) -> Result<(), HandlerError> {
    let notice: WakeNotice = parse(m)?;
    let mut owners: HashMap<String, Option<String>> = HashMap::new();
    let mut remote: HashMap<String, Vec<WokenReceipt>> = HashMap::new();
    for receipt in notice.receipts {
        if wake_for_receipt(state, &receipt) {
            continue;
        }
        let owner = match owners.get(&receipt.device) {
            Some(owner) => owner.clone(),
            None => {
                let id = DeviceId::from_string(receipt.device.clone());
                let owner = remote_owner(state, &id).await;
                owners.insert(receipt.device.clone(), owner.clone());
                owner
            }
        };
        if let Some(node) = owner {
            remote.entry(node).or_default().push(receipt);
        }
    }
    for (node, receipts) in remote {
        let key = node.clone();
        publish(
            state,
            &node_topic(state, &node),
            &NodeNotice::Wake { receipts },
            &key,
        )
        .await;
    }
    Ok(())
}

//! The router: a bus subscriber that turns notices into session wake-ups or pushes.

use opentelemetry::KeyValue;
use opentelemetry::trace::TraceContextExt as _;
use pigeon_bus::{HandlerError, Message, SubscribeError, SubscribeOptions, Subscription};
use pigeon_store::{DeviceId, MessageId, UserId};

use super::{DELIVER_TOPIC, DeliverNotice, WAKE_TOPIC, WakeNotice, push_fallback};
use crate::DmState;
use crate::gateway::Hint;
use crate::spans;

/// The running router; dropping it (or [`DeliveryRouter::shutdown`]) stops it.
pub struct DeliveryRouter {
    subscriptions: Vec<Subscription>,
}

impl DeliveryRouter {
    /// Subscribes this node's router to the delivery topics.
    pub async fn start(state: &DmState) -> Result<Self, SubscribeError> {
        let group = format!("dm-router-{}", state.config().node_id);
        let deliver_state = state.clone();
        let deliver = state
            .bus()
            .subscribe(
                SubscribeOptions::new(DELIVER_TOPIC, &group),
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
                SubscribeOptions::new(WAKE_TOPIC, &group),
                move |m: Message| {
                    let state = wake_state.clone();
                    async move { wake(&state, &m) }
                },
            )
            .await?;
        Ok(Self {
            subscriptions: vec![deliver, wake],
        })
    }

    /// Stops routing, letting notices being handled finish.
    pub async fn shutdown(self) {
        for s in self.subscriptions {
            s.shutdown().await;
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(m: &Message) -> Result<T, HandlerError> {
    serde_json::from_slice(m.payload())
        .map_err(|e| HandlerError::dead_letter(format!("not a delivery notice: {e}")))
}

async fn route(state: &DmState, m: &Message) -> Result<(), HandlerError> {
    let notice: DeliverNotice = parse(m)?;
    let message_id = MessageId::from_string(notice.message_id);
    let sender = UserId::from_string(notice.sender_user);
    for (device, seq) in notice.targets {
        route_one(
            state,
            &message_id,
            &sender,
            DeviceId::from_string(device),
            seq,
        );
    }
    Ok(())
}

fn route_one(state: &DmState, message_id: &MessageId, sender: &UserId, device: DeviceId, seq: u64) {
    let deliver = spans::child(
        "messaging.deliver",
        vec![
            KeyValue::new("message.id", message_id.to_string()),
            KeyValue::new("device.id", device.to_string()),
        ],
    );
    let _in_deliver = deliver.clone().attach();
    let route = spans::child(
        "messaging.route_delivery",
        vec![
            KeyValue::new("recipient.device_id", device.to_string()),
            KeyValue::new("message.id", message_id.to_string()),
        ],
    );
    let _in_route = route.clone().attach();
    let session = state.sessions().get(&device);
    let check = spans::child("messaging.check_ws_connection", Vec::new());
    check
        .span()
        .set_attribute(KeyValue::new("websocket.connected", session.is_some()));
    if let Some(s) = &session {
        check.span().set_attribute(KeyValue::new(
            "websocket.server",
            state.config().node_id.clone(),
        ));
        check.span().set_attribute(KeyValue::new(
            "websocket.session_age_seconds",
            s.started.elapsed().as_secs() as i64,
        ));
    }
    check.span().end();
    match session {
        Some(session) => {
            deliver
                .span()
                .set_attribute(KeyValue::new("delivery.method", "websocket"));
            session.wake(Some(Hint {
                seq,
                route: route.clone(),
            }));
        }
        None => {
            deliver
                .span()
                .set_attribute(KeyValue::new("delivery.method", "push"));
            let (state, message_id, sender, parent) = (
                state.clone(),
                message_id.clone(),
                sender.clone(),
                route.clone(),
            );
            state.clone().tasks().spawn(async move {
                push_fallback(&state, device, seq, message_id, sender, Some(parent)).await;
            });
        }
    }
    route.span().end();
    deliver.span().end();
}

fn wake(state: &DmState, m: &Message) -> Result<(), HandlerError> {
    let notice: WakeNotice = parse(m)?;
    for device in notice.devices {
        if let Some(session) = state.sessions().get(&DeviceId::from_string(device)) {
            session.wake(None);
        }
    }
    Ok(())
}

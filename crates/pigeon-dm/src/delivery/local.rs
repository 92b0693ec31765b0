//! The last hop on the node that holds (or held) the device's session: wake it, or push.
//!
//! Shared by the router (the device is connected to the node that took the notice) and by a
//! node's own topic (another node's router sent the delivery here), so the
//! `messaging.check_ws_connection` span and its `websocket.server` read the same either way.

use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::{Context, KeyValue};
use pigeon_bus::{HandlerError, Message};
use pigeon_store::{DeviceId, MessageId, UserId};

use super::outcome::PendingDelivery;
use super::{NodeNotice, WokenReceipt, push_fallback};
use crate::DmState;
use crate::gateway::Hint;
use crate::spans;

/// Wakes `device`'s session on this node with the entry `seq`, or hands the entry to push when
/// there is none. `route` is the context the delivery was routed in (parent of the spans here
/// and of the session's `messaging.deliver_websocket`); `delivery` goes along, to be ended by
/// whichever learns its outcome.
pub(super) fn wake_or_push(
    state: &DmState,
    route: &Context,
    device: DeviceId,
    seq: u64,
    mut delivery: PendingDelivery,
) {
    let session = state.sessions().get(&device);
    let check = {
        let _in_route = route.clone().attach();
        spans::child("messaging.check_ws_connection", Vec::new())
    };
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
            delivery.routed("websocket");
            session.wake(Some(Hint {
                seq,
                route: route.clone(),
                delivery: Some(delivery),
            }));
        }
        None => {
            delivery.routed("push");
            let (task_state, parent) = (state.clone(), route.clone());
            state.tasks().spawn(async move {
                push_fallback(&task_state, device, seq, parent, delivery).await;
            });
        }
    }
}

/// A notice on this node's own topic: another node routed deliveries to sessions here.
pub(super) fn on_node_notice(state: &DmState, m: &Message) -> Result<(), HandlerError> {
    let notice: NodeNotice = super::router::parse(m)?;
    match notice {
        NodeNotice::Deliver {
            message_id,
            sender_user,
            device,
            seq,
        } => {
            // The bus made the `process` span of this hop current: a child of the sender's
            // route span on the other node, so the trace runs on here.
            let delivery = PendingDelivery::untraced(
                MessageId::from_string(message_id),
                UserId::from_string(sender_user),
            );
            wake_or_push(
                state,
                &Context::current(),
                DeviceId::from_string(device),
                seq,
                delivery,
            );
        }
        NodeNotice::Wake { receipts } => {
            for receipt in &receipts {
                wake_for_receipt(state, receipt);
            }
        }
    }
    Ok(())
}

/// Wakes the session on this node of the device `receipt` went to, handing it the receipt's
/// trace context (the current one, the bus hop's, when the receipt came without one) for the
/// receipt's `messaging.deliver_websocket`. False when the device has no session here.
pub(super) fn wake_for_receipt(state: &DmState, receipt: &WokenReceipt) -> bool {
    let device = DeviceId::from_string(receipt.device.clone());
    let Some(session) = state.sessions().get(&device) else {
        return false;
    };
    let route = match receipt.traceparent.as_deref() {
        Some(traceparent) => spans::continued(Some(traceparent)),
        None => Context::current(),
    };
    session.wake(Some(Hint {
        seq: receipt.seq,
        route,
        delivery: None,
    }));
    true
}

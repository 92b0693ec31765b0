//! Read receipts: "I have read `peer`'s messages up to `up_to`", monotonic per direction.

use axum::Json;
use axum::extract::State;
use opentelemetry::KeyValue;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{Status, TraceContextExt};
use pigeon_proto::{ReadRequest, ReadResponse};
use pigeon_store::{MessageId, Receipts, UserId};

use super::mailbox::now_ms;
use crate::auth::Device;
use crate::convert::uuid_v7_millis;
use crate::json::ApiJson;
use crate::spans;
use crate::{ApiError, DmState};

pub(super) async fn read(
    State(state): State<DmState>,
    caller: Device,
    ApiJson(request): ApiJson<ReadRequest>,
) -> Result<Json<ReadResponse>, ApiError> {
    let advanced = record_read(&state, &caller, request).await?;
    Ok(Json(ReadResponse { advanced }))
}

/// Records a read mark under `messaging.read_receipt`; wakes the sender's devices when it
/// advanced (under `.notify_sender`, the parent of each receipt's delivery). Shared by the
/// HTTP route and the WebSocket `read` frame.
pub(crate) async fn record_read(
    state: &DmState,
    caller: &Device,
    request: ReadRequest,
) -> Result<bool, ApiError> {
    let conversation = conversation_id(caller.user_id.as_str(), request.peer.as_str());
    let cx = spans::child(
        "messaging.read_receipt",
        vec![
            KeyValue::new("reader.id", caller.user_id.to_string()),
            KeyValue::new("message.id", request.up_to.to_string()),
            KeyValue::new("conversation.id", conversation),
        ],
    );
    let result = record(state, caller, request)
        .with_context(cx.clone())
        .await;
    let span = cx.span();
    match &result {
        Ok(woken) => span.set_attribute(KeyValue::new("receipt.processed", woken.is_some())),
        Err(err) => span.set_status(Status::error(err.to_string())),
    }
    span.end();
    Ok(result?.is_some())
}

/// Records the mark and, when it advanced, wakes the devices the receipts went to; returns
/// where they went.
async fn record(
    state: &DmState,
    caller: &Device,
    request: ReadRequest,
) -> Result<Option<Receipts>, ApiError> {
    // Message ids are UUIDv7: the send time is in the id.
    let sent_at_ms = uuid_v7_millis(request.up_to.as_str());
    let latency_s = sent_at_ms.map(|sent| now_ms().saturating_sub(sent) as f64 / 1e3);
    let mut attrs = vec![KeyValue::new("db.operation", "UPDATE")];
    if let Some(latency) = latency_s {
        attrs.push(KeyValue::new(
            "read.latency_seconds",
            latency.round() as i64,
        ));
    }
    let update = spans::child("messaging.read_receipt.update_status", attrs);
    let peer = UserId::from_string(request.peer.as_str());
    let result = state
        .store()
        .record_read(
            caller.user_id.clone(),
            peer.clone(),
            MessageId::from_string(request.up_to.as_str()),
        )
        .with_context(update.clone())
        .await;
    if let Err(err) = &result {
        update.span().set_status(Status::error(err.to_string()));
    }
    update.span().end();
    let woken = result?;
    // The receipt is now in every mailbox of the sender: delivered with the rest of the
    // mailbox, live or at the next sync.
    let notify = spans::child(
        "messaging.read_receipt.notify_sender",
        vec![
            KeyValue::new("notification.method", "mailbox"),
            KeyValue::new("notification.success", true),
        ],
    );
    if let Some(receipts) = &woken {
        let receipts = receipts.iter().map(|receipt| (receipt, &notify));
        crate::delivery::wake_devices(state, &peer, receipts)
            .with_context(notify.clone())
            .await;
    }
    notify.span().end();
    if woken.is_some()
        && let Some(latency) = latency_s
    {
        state.metrics().receipt_latency.record(latency, &[]);
    }
    Ok(woken)
}

/// The id of a 1:1 conversation: the two user ids, ordered, joined.
pub(crate) fn conversation_id(a: &str, b: &str) -> String {
    if a <= b {
        format!("{a}:{b}")
    } else {
        format!("{b}:{a}")
    }
}

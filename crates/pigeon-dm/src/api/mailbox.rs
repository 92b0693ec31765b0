//! A device's own mailbox: page through what is unacked, and ack. An ack of a message records
//! its delivery, which puts a delivery receipt in every mailbox of the sender.

use axum::Json;
use axum::extract::{Query, State};
use opentelemetry::KeyValue;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{Status, TraceContextExt};
use pigeon_proto::{AckRequest, AckResponse, MailboxPage};
use pigeon_store::{MailboxItem, MessageId};
use serde::Deserialize;

use crate::auth::Device;
use crate::convert::entry;
use crate::json::ApiJson;
use crate::spans;
use crate::{ApiError, DmState};

/// Most seqs acked in one request.
const MAX_ACKS: usize = 1_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Page {
    #[serde(default)]
    after: u64,
    limit: Option<usize>,
}

pub(super) async fn fetch(
    State(state): State<DmState>,
    caller: Device,
    query: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<MailboxPage>, ApiError> {
    let Query(page) = query.map_err(|e| ApiError::Invalid(format!("query: {}", e.body_text())))?;
    let max = state.config().max_page;
    let limit = page.limit.unwrap_or(100);
    if limit == 0 || limit > max {
        return Err(ApiError::Invalid(format!("limit must be 1 to {max}")));
    }
    let entries = state
        .store()
        .fetch(caller.device_id, page.after, limit)
        .await?;
    let more = entries.len() == limit;
    let entries = entries.into_iter().map(entry).collect::<Result<_, _>>()?;
    Ok(Json(MailboxPage { entries, more }))
}

pub(super) async fn ack(
    State(state): State<DmState>,
    caller: Device,
    ApiJson(request): ApiJson<AckRequest>,
) -> Result<Json<AckResponse>, ApiError> {
    if request.seqs.len() > MAX_ACKS {
        return Err(ApiError::Invalid(format!(
            "at most {MAX_ACKS} seqs per ack"
        )));
    }
    let mut acked = Vec::new();
    for seq in request.seqs {
        if acknowledge(&state, &caller, seq).await? {
            acked.push(seq);
        }
    }
    Ok(Json(AckResponse { acked }))
}

/// Acks one entry; for a message, records its delivery. Returns whether this call acked it.
pub(crate) async fn acknowledge(
    state: &DmState,
    caller: &Device,
    seq: u64,
) -> Result<bool, ApiError> {
    let entry = state
        .store()
        .fetch(caller.device_id.clone(), seq.saturating_sub(1), 1)
        .await?
        .into_iter()
        .find(|e| e.seq == seq);
    let message = match entry.map(|e| e.item) {
        Some(MailboxItem::Message {
            message_id,
            sent_at_ms,
            sender_user,
            ..
        }) => Some(AckedMessage {
            message_id,
            sender: sender_user,
            sent_at_ms,
        }),
        _ => None,
    };
    acknowledge_known(state, caller, seq, message).await
}

/// The message an acked entry holds, when the caller already knows it (a live session does).
pub(crate) struct AckedMessage {
    pub(crate) message_id: MessageId,
    pub(crate) sender: pigeon_store::UserId,
    pub(crate) sent_at_ms: u64,
}

/// Acks `seq`; when it holds `message`, records its delivery and wakes the sender's devices.
pub(crate) async fn acknowledge_known(
    state: &DmState,
    caller: &Device,
    seq: u64,
    message: Option<AckedMessage>,
) -> Result<bool, ApiError> {
    if !state.store().ack(caller.device_id.clone(), seq).await? {
        return Ok(false);
    }
    if let Some(m) = message
        && record_delivery(state, caller, m.message_id, m.sent_at_ms).await?
    {
        crate::delivery::wake_user(state, &m.sender).await;
    }
    Ok(true)
}

async fn record_delivery(
    state: &DmState,
    caller: &Device,
    message_id: MessageId,
    sent_at_ms: u64,
) -> Result<bool, ApiError> {
    let latency_ms = now_ms().saturating_sub(sent_at_ms);
    let cx = spans::child(
        "messaging.delivery_receipt",
        vec![
            KeyValue::new("recipient.id", caller.user_id.to_string()),
            KeyValue::new("message.id", message_id.to_string()),
            KeyValue::new("delivery.latency_ms", latency_ms as i64),
        ],
    );
    let update = {
        let _current = cx.clone().attach();
        spans::child("messaging.delivery_receipt.update", Vec::new())
    };
    let result = state
        .store()
        .record_delivery(caller.device_id.clone(), message_id)
        .with_context(update.clone())
        .await;
    if let Err(err) = &result {
        update.span().set_status(Status::error(err.to_string()));
    }
    update.span().end();
    state
        .metrics()
        .delivery_method
        .add(1, &[KeyValue::new("delivery.method", "sync")]);
    cx.span().end();
    result.map_err(Into::into)
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

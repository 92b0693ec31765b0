//! A device's own mailbox: page through what is unacked, and ack. An ack of a message records
//! its delivery in the same commit, which puts a delivery receipt in every mailbox of the
//! sender.

use std::time::SystemTime;

use axum::Json;
use axum::extract::{Query, State};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::{Context, KeyValue};
use pigeon_proto::{AckRequest, AckResponse, MailboxPage};
use pigeon_store::{Acked, Delivery};
use serde::Deserialize;

use crate::auth::Device;
use crate::convert::entry;
use crate::delivery::method;
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
        let outcome = acknowledge(&state, &caller, seq).await?;
        if matches!(outcome, Acked::Message(_)) {
            state.metrics().delivery_method.add(1, &method("sync"));
        }
        if outcome.newly() {
            acked.push(seq);
        }
    }
    Ok(Json(AckResponse { acked }))
}

/// Acks `seq` of the caller's mailbox. For a message the store records its delivery in the
/// same commit; this adds `messaging.delivery_receipt` (in the current context: the live
/// session runs it under the delivery's span) and wakes the sender's devices for the receipt.
pub(crate) async fn acknowledge(
    state: &DmState,
    caller: &Device,
    seq: u64,
) -> Result<Acked, ApiError> {
    let started = SystemTime::now();
    let acked = state.store().ack(caller.device_id.clone(), seq).await?;
    if let Acked::Message(delivery) = &acked {
        receipt_spans(caller, delivery, started);
        crate::delivery::wake_devices(state, &delivery.sender_user, &delivery.receipts).await;
    }
    Ok(acked)
}

/// `messaging.delivery_receipt` and its `.update` (the store's commit), from `started` to now.
fn receipt_spans(caller: &Device, delivery: &Delivery, started: SystemTime) {
    let latency_ms = now_ms().saturating_sub(delivery.sent_at_ms);
    let receipt = spans::child_since(
        "messaging.delivery_receipt",
        vec![
            KeyValue::new("recipient.id", caller.user_id.to_string()),
            KeyValue::new("message.id", delivery.message_id.to_string()),
            KeyValue::new("delivery.latency_ms", latency_ms as i64),
        ],
        started,
        &Context::current(),
    );
    let update = spans::child_since(
        "messaging.delivery_receipt.update",
        vec![
            KeyValue::new("db.operation", "UPDATE"),
            KeyValue::new("receipt.fan_out", delivery.receipts.len() as i64),
        ],
        started,
        &receipt,
    );
    update.span().end();
    receipt.span().end();
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

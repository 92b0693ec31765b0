//! A device's own mailbox: page through what is unacked, and ack. An ack of a message records
//! its delivery in the same commit, which puts a delivery receipt in every mailbox of the
//! sender.

use std::time::SystemTime;

use axum::Json;
use axum::extract::{Query, State};
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::{Context, KeyValue};
use pigeon_proto::{AckRequest, AckResponse, MailboxPage};
use pigeon_store::{Acked, Delivery, DeviceId, UserId};
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
    let here = Context::current();
    let acks: Vec<_> = request
        .seqs
        .iter()
        .map(|&seq| (seq, here.clone()))
        .collect();
    let outcomes = acknowledge(&state, &caller, acks).await?;
    let mut acked = Vec::new();
    for (seq, outcome) in request.seqs.into_iter().zip(outcomes) {
        if matches!(outcome, Acked::Message(_)) {
            state.metrics().delivery_method.add(1, &method("sync"));
        }
        if outcome.newly() {
            acked.push(seq);
        }
    }
    Ok(Json(AckResponse { acked }))
}

/// Acks seqs of the caller's mailbox, in one request of the store (so one commit, however
/// many). For each message the store records its delivery in the same commit; this adds its
/// `messaging.delivery_receipt`, a child of the context given with its seq (the live session
/// gives each delivery's span, so a trace runs from the send to the receipt), with `.update`
/// (the commit) and `.notify` (the wake of the sender's devices) under it. The wakes go once
/// per sender, each receipt in them with its own `.notify` as the parent of its delivery.
pub(crate) async fn acknowledge(
    state: &DmState,
    caller: &Device,
    acks: Vec<(u64, Context)>,
) -> Result<Vec<Acked>, ApiError> {
    let started = SystemTime::now();
    let seqs = acks.iter().map(|(seq, _)| *seq).collect();
    let outcomes = state
        .store()
        .ack_many(caller.device_id.clone(), seqs)
        .await?;
    let mut open = Vec::new();
    let mut wakes: Vec<(&UserId, Vec<Woken<'_>>)> = Vec::new();
    for ((_, parent), outcome) in acks.iter().zip(&outcomes) {
        let Acked::Message(delivery) = outcome else {
            continue;
        };
        let receipt = receipt_span(caller, delivery, started, parent);
        let notify = spans::child_since(
            "messaging.delivery_receipt.notify",
            vec![
                KeyValue::new("notification.method", "mailbox"),
                KeyValue::new("notification.devices", delivery.receipts.len() as i64),
            ],
            SystemTime::now(),
            &receipt,
        );
        let receipts = delivery.receipts.iter().map(|r| (r, notify.clone()));
        match wakes
            .iter_mut()
            .find(|(user, _)| **user == delivery.sender_user)
        {
            Some((_, woken)) => woken.extend(receipts),
            None => wakes.push((&delivery.sender_user, receipts.collect())),
        }
        open.push((receipt, notify));
    }
    for (sender, receipts) in &wakes {
        let Some((_, first)) = receipts.first() else {
            continue;
        };
        let receipts = receipts.iter().map(|(receipt, cx)| (*receipt, cx));
        crate::delivery::wake_devices(state, sender, receipts)
            .with_context(first.clone())
            .await;
    }
    for (receipt, notify) in open {
        notify.span().end();
        receipt.span().end();
    }
    Ok(outcomes)
}

/// A receipt the store put in a sender's mailbox (`(device, seq)`), with the `.notify` span it
/// was made under.
type Woken<'a> = (&'a (DeviceId, u64), Context);

/// Starts `messaging.delivery_receipt` under `parent` at `started`, with its `.update` (the
/// store's commit) from then to now; returns the receipt's context, for the caller to end.
fn receipt_span(
    caller: &Device,
    delivery: &Delivery,
    started: SystemTime,
    parent: &Context,
) -> Context {
    let latency_ms = now_ms().saturating_sub(delivery.sent_at_ms);
    let receipt = spans::child_since(
        "messaging.delivery_receipt",
        vec![
            KeyValue::new("recipient.id", caller.user_id.to_string()),
            KeyValue::new("message.id", delivery.message_id.to_string()),
            KeyValue::new("delivery.latency_ms", latency_ms as i64),
        ],
        started,
        parent,
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
    receipt
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

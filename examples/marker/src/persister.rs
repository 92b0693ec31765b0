//! persister: `external` → one line of `messages.jsonl`, in span `persist-message`.
//!
//! The line is written and synced before the handler returns `Ok` (the ack), once per mark id
//! ([`JsonlFile`]). A failed write (a full disk, a read-only file) is an error span with an
//! `exception` event and a retry with backoff, for as long as it takes: the message stays unacked
//! and nothing is lost. A payload that is not a JSON object is dead-lettered, as in processor.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::TraceContextExt as _;
use pigeon_bus::{Bus, HandlerError, Message, SubscribeOptions, Subscription};

use crate::processor::{mark_id, parse_mark};
use crate::spans::{self, MESSAGE_ID};
use crate::{Appended, JsonlFile, MarkerError, Topics};

/// persister's consumer group.
pub const PERSISTER_GROUP: &str = "persister";

/// Subscribes persister to `topics.external`, appending to `file`; it runs until the
/// subscription is shut down. Its spans go to `tracer`.
pub async fn start_persister(
    bus: Bus,
    tracer: BoxedTracer,
    topics: Topics,
    file: Arc<JsonlFile>,
) -> Result<Subscription, MarkerError> {
    // Never give up on a write: the line must land before the ack, however long the disk is
    // full. Retries back off to one every 5 s.
    let options = SubscribeOptions::new(&topics.external, PERSISTER_GROUP)
        .max_attempts(u32::MAX)
        .backoff(Duration::from_millis(100), Duration::from_secs(5));
    let tracer = Arc::new(tracer);
    bus.subscribe(options, move |message: Message| {
        let (tracer, file) = (tracer.clone(), file.clone());
        async move { persist(&tracer, file, message).await }
    })
    .await
    .map_err(|source| MarkerError::Subscribe {
        topic: topics.external.to_string(),
        source,
    })
}

async fn persist(
    tracer: &BoxedTracer,
    file: Arc<JsonlFile>,
    message: Message,
) -> Result<(), HandlerError> {
    let cx = spans::start(tracer, "persist-message", &message.context);
    let span = cx.span();
    span.set_attribute(KeyValue::new(
        "messaging.message.id",
        message.envelope.id.to_string(),
    ));
    span.set_attribute(KeyValue::new(
        "file.path",
        file.path().display().to_string(),
    ));
    span.set_attribute(KeyValue::new(
        "pigeon.delivery.attempt",
        i64::from(message.attempt),
    ));
    let result = match parse_mark(message.payload()) {
        Err(reason) => {
            spans::fail(&cx, "InvalidJson", &reason);
            tracing::warn!(service = "persister", trace_id = %spans::trace_id(&cx), %reason, "dead-lettering a message that is not a mark");
            Err(HandlerError::dead_letter(reason))
        }
        Ok(mark) => {
            let id = mark_id(&mark, &message);
            span.set_attribute(KeyValue::new(MESSAGE_ID, id.clone()));
            let line = serde_json::Value::Object(mark).to_string();
            let write_id = id.clone();
            let written = tokio::task::spawn_blocking(move || file.append(&write_id, &line)).await;
            let trace_id = spans::trace_id(&cx);
            match written {
                Ok(Ok(Appended::Written)) => {
                    tracing::info!(service = "persister", message_id = %id, %trace_id, "persisted");
                    Ok(())
                }
                Ok(Ok(Appended::Duplicate)) => {
                    span.add_event("already persisted; not written again", vec![]);
                    tracing::info!(service = "persister", message_id = %id, %trace_id, "already persisted");
                    Ok(())
                }
                Ok(Err(error)) => {
                    let reason = format!("writing the messages file: {error}");
                    spans::fail(&cx, "WriteFailed", &reason);
                    tracing::warn!(service = "persister", message_id = %id, %trace_id, attempt = message.attempt, %reason, "will retry");
                    Err(HandlerError::retry(reason))
                }
                Err(join) => {
                    let reason = format!("the write task failed: {join}");
                    spans::fail(&cx, "WriteFailed", &reason);
                    Err(HandlerError::retry(reason))
                }
            }
        }
    };
    span.end();
    result
}

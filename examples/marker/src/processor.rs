//! processor: `internal` → adds `processed: true` → `external`, in span `process-message`.
//!
//! A payload that is not a JSON object can never be processed: the span records an `exception`
//! (`InvalidJson`) and the message is dead-lettered to `internal.dlq` at once with the parse
//! error as its reason. A failed publish to `external` is retried with the bus's backoff.

use opentelemetry::KeyValue;
use opentelemetry::context::FutureExt as _;
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::TraceContextExt as _;
use pigeon_bus::{
    Bus, CORRELATION_ID_FIELD, HandlerError, Message, OutgoingMessage, SubscribeOptions,
    Subscription,
};

use crate::spans::{self, MESSAGE_ID};
use crate::{MarkerError, Topics};

/// processor's consumer group.
pub const PROCESSOR_GROUP: &str = "processor";

/// Subscribes processor to `topics.internal`; it runs until the subscription is shut down.
/// Its spans go to `tracer`, the bus's own to whatever `bus` was built with.
pub async fn start_processor(
    bus: Bus,
    tracer: BoxedTracer,
    topics: Topics,
) -> Result<Subscription, MarkerError> {
    let options = SubscribeOptions::new(&topics.internal, PROCESSOR_GROUP);
    let handler_bus = bus.clone();
    let tracer = std::sync::Arc::new(tracer);
    bus.subscribe(options, move |message: Message| {
        let (bus, tracer, external) =
            (handler_bus.clone(), tracer.clone(), topics.external.clone());
        async move { process(&bus, &tracer, external, message).await }
    })
    .await
    .map_err(|source| MarkerError::Subscribe {
        topic: topics.internal.to_string(),
        source,
    })
}

async fn process(
    bus: &Bus,
    tracer: &BoxedTracer,
    external: std::sync::Arc<str>,
    message: Message,
) -> Result<(), HandlerError> {
    let cx = spans::start(tracer, "process-message", &message.context);
    let span = cx.span();
    span.set_attribute(KeyValue::new(
        "messaging.message.id",
        message.envelope.id.to_string(),
    ));
    let mut mark = match parse_mark(message.payload()) {
        Ok(mark) => mark,
        Err(reason) => {
            spans::fail(&cx, "InvalidJson", &reason);
            tracing::warn!(service = "processor", trace_id = %spans::trace_id(&cx), %reason, "dead-lettering a message that is not a mark");
            span.end();
            return Err(HandlerError::dead_letter(reason));
        }
    };
    let id = mark_id(&mark, &message);
    span.set_attribute(KeyValue::new(MESSAGE_ID, id.clone()));
    mark.insert("processed".into(), true.into());
    // The incoming context is spent; a bus carrying context in the payload writes a fresh one.
    mark.remove(CORRELATION_ID_FIELD);
    let payload = serde_json::Value::Object(mark).to_string();
    let published = bus
        .publish(OutgoingMessage::new(external, payload).key(&id))
        .with_context(cx.clone())
        .await;
    let result = match published {
        Ok(_) => {
            tracing::info!(service = "processor", message_id = %id, trace_id = %spans::trace_id(&cx), "processed");
            Ok(())
        }
        Err(error) => {
            let reason = format!("publishing to external: {error}");
            spans::fail(&cx, "PublishFailed", &reason);
            tracing::warn!(service = "processor", message_id = %id, trace_id = %spans::trace_id(&cx), %reason, "will retry");
            Err(HandlerError::retry(reason))
        }
    };
    span.end();
    result
}

/// The payload as a JSON object, or why it is not one.
pub(crate) fn parse_mark(
    payload: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    match serde_json::from_slice(payload) {
        Ok(serde_json::Value::Object(mark)) => Ok(mark),
        Ok(_) => Err("invalid JSON: a mark must be a JSON object".into()),
        Err(error) => Err(format!("invalid JSON: {error}")),
    }
}

/// The mark's own `id`, or the bus message id when it has none.
pub(crate) fn mark_id(
    mark: &serde_json::Map<String, serde_json::Value>,
    message: &Message,
) -> String {
    mark.get("id")
        .and_then(serde_json::Value::as_str)
        .map_or_else(|| message.envelope.id.to_string(), str::to_owned)
}

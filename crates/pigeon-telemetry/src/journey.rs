//! Feeds the embedded journey store from the span sink.
//!
//! [`JourneyConsumer`] converts each finished SDK span into pigeon-journey's own record (the
//! store has no OpenTelemetry inside) and hands the batch to the store's non-blocking ingestor:
//! when the store's queue is full, the store drops and counts, and the application never waits.

use std::borrow::Cow;
use std::sync::{Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{Key, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanData;
use pigeon_journey::{AttrValue, Event, Ingestor, KeyValue, Link, SpanId, SpanRecord, TraceId};

use crate::SpanConsumer;

/// Keys that occur on almost every span: stored as `'static`, so converting them costs no
/// allocation (and the store frees nothing for them).
const COMMON_KEYS: &[&str] = &[
    "messaging.system",
    "messaging.destination.name",
    "messaging.operation.name",
    "messaging.operation.type",
    "messaging.message.id",
    "messaging.message.body.size",
    "messaging.consumer.group.name",
    "pigeon.delivery.attempt",
    "pigeon.queue_time_ms",
    "pigeon.message.key",
    "message.id",
    "conversation.id",
    "order.id",
    "error.type",
    "exception.message",
];

/// A [`SpanConsumer`] that stores every span in a journey store.
pub struct JourneyConsumer {
    ingestor: Ingestor,
    resource: RwLock<ResourceParts>,
    /// The batch being converted: filled and handed over whole at every `consume`, and given
    /// back empty by the store's queue, so no batch vector is made per batch.
    batch: Mutex<Vec<SpanRecord>>,
}

#[derive(Default)]
struct ResourceParts {
    service: String,
    attributes: Vec<KeyValue>,
}

impl JourneyConsumer {
    /// Stores spans through `ingestor` (from `JourneyStore::ingestor`).
    pub fn new(ingestor: Ingestor) -> Self {
        Self {
            ingestor,
            resource: RwLock::new(ResourceParts {
                service: "unknown_service".into(),
                attributes: Vec::new(),
            }),
            batch: Mutex::new(Vec::new()),
        }
    }
}

impl std::fmt::Debug for JourneyConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JourneyConsumer").finish_non_exhaustive()
    }
}

impl SpanConsumer for JourneyConsumer {
    fn consume(&self, batch: &[SpanData]) {
        let resource = self
            .resource
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Only the sink's drain thread consumes: the lock is never contended.
        let mut records = self
            .batch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        records.extend(batch.iter().map(|span| to_record(span, &resource)));
        drop(resource);
        self.ingestor.ingest_from(&mut records);
    }

    fn set_resource(&self, resource: &Resource) {
        let mut parts = ResourceParts::default();
        for (key, value) in resource.iter() {
            if key.as_str() == "service.name" {
                parts.service = value.as_str().into_owned();
            } else {
                parts.attributes.push(to_kv(key, value));
            }
        }
        *self
            .resource
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = parts;
    }
}

fn to_record(span: &SpanData, resource: &ResourceParts) -> SpanRecord {
    let cx = &span.span_context;
    SpanRecord {
        trace_id: TraceId(cx.trace_id().to_bytes()),
        span_id: SpanId(cx.span_id().to_bytes()),
        parent_span_id: (span.parent_span_id != opentelemetry::trace::SpanId::INVALID)
            .then(|| SpanId(span.parent_span_id.to_bytes())),
        name: span.name.to_string(),
        kind: match span.span_kind {
            SpanKind::Internal => pigeon_journey::SpanKind::Internal,
            SpanKind::Server => pigeon_journey::SpanKind::Server,
            SpanKind::Client => pigeon_journey::SpanKind::Client,
            SpanKind::Producer => pigeon_journey::SpanKind::Producer,
            SpanKind::Consumer => pigeon_journey::SpanKind::Consumer,
        },
        service: resource.service.clone(),
        start_unix_nano: unix_nanos(span.start_time),
        end_unix_nano: unix_nanos(span.end_time),
        status: match &span.status {
            Status::Unset => pigeon_journey::Status::Unset,
            Status::Ok => pigeon_journey::Status::Ok,
            Status::Error { description } => pigeon_journey::Status::Error {
                message: description.to_string(),
            },
        },
        attributes: span
            .attributes
            .iter()
            .map(|kv| to_kv(&kv.key, &kv.value))
            .collect(),
        events: span
            .events
            .iter()
            .map(|e| Event {
                name: e.name.to_string(),
                time_unix_nano: unix_nanos(e.timestamp),
                attributes: e
                    .attributes
                    .iter()
                    .map(|kv| to_kv(&kv.key, &kv.value))
                    .collect(),
            })
            .collect(),
        links: span
            .links
            .iter()
            .map(|l| Link {
                trace_id: TraceId(l.span_context.trace_id().to_bytes()),
                span_id: SpanId(l.span_context.span_id().to_bytes()),
                attributes: l
                    .attributes
                    .iter()
                    .map(|kv| to_kv(&kv.key, &kv.value))
                    .collect(),
            })
            .collect(),
        resource: resource.attributes.clone(),
    }
}

fn to_kv(key: &Key, value: &Value) -> KeyValue {
    let key: Cow<'static, str> = match COMMON_KEYS.iter().find(|k| **k == key.as_str()) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(key.as_str().to_owned()),
    };
    let value = match value {
        Value::Bool(b) => AttrValue::Bool(*b),
        Value::I64(i) => AttrValue::I64(*i),
        Value::F64(f) => AttrValue::F64(*f),
        Value::String(s) => AttrValue::Str(s.as_str().to_owned()),
        // Arrays and any kind added later are kept as their text.
        other => AttrValue::Str(other.to_string()),
    };
    KeyValue { key, value }
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use opentelemetry::trace::{Span as _, TraceContextExt, Tracer as _};
    use pigeon_journey::{JourneyOptions, JourneyStore};

    use super::*;
    use crate::Telemetry;

    #[test]
    fn spans_reach_the_store_and_join_into_a_journey() {
        let store = JourneyStore::in_memory();
        let consumer = Arc::new(JourneyConsumer::new(store.ingestor()));
        let telemetry = Telemetry::builder()
            .with_service_name("journey-test")
            .with_consumer(consumer)
            .build_local()
            .unwrap();
        let tracer = telemetry.tracer("test");
        let mut root = tracer.start("messaging.send");
        root.set_attribute(opentelemetry::KeyValue::new("message.id", "m-42"));
        let cx = opentelemetry::Context::current_with_span(root);
        let mut child = tracer.start_with_context("messaging.persist", &cx);
        child.set_status(Status::error("disk full"));
        child.end();
        cx.span().end();
        telemetry.force_flush().unwrap();
        store.drain().unwrap();

        let journey = store.journey("m-42", &JourneyOptions::default());
        let names: Vec<_> = journey.spans.iter().map(|s| s.span.name.as_str()).collect();
        assert_eq!(names, ["messaging.send", "messaging.persist"]);
        let persist = &journey.spans[1].span;
        assert_eq!(persist.service, "journey-test");
        assert!(persist.status.is_error());
        assert_eq!(persist.parent_span_id, Some(journey.spans[0].span.span_id));
    }
}

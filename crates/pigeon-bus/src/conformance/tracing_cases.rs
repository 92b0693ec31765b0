//! Cases about trace context: one trace from publisher to handler, with the conventions'
//! attributes, and malformed context starting a new root instead of failing.

use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanId, SpanKind, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, Value};
use opentelemetry_sdk::trace::SpanData;

use super::Harness;
use super::support::{Recorder, traced_bus, traced_bus_with, unique};
use crate::{Bus, ContextCarrier, CorrelationId, Message, OutgoingMessage, SubscribeOptions};

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// Publisher span → PRODUCER `send {topic}` → CONSUMER `process {topic}` → spans in the
/// handler: one trace, each the parent of the next, with the messaging attributes.
pub async fn spans_follow_the_message(harness: &dyn Harness) {
    let t = traced_bus(harness).await;
    let topic = unique("conf.trace");
    let group = unique("g");
    let tracer = t.provider.tracer("conformance-test");
    let rec = Recorder::default();
    let (r, inner_tracer) = (rec.clone(), t.provider.tracer("handler"));
    let sub = t
        .bus
        .subscribe(SubscribeOptions::new(&topic, &group), move |m: Message| {
            let r = r.clone();
            let mut inner = inner_tracer.start_with_context("handler-work", &Context::current());
            opentelemetry::trace::Span::end(&mut inner);
            async move {
                r.record(&m, 0);
                Ok(())
            }
        })
        .await
        .unwrap();
    let root = tracer.start("publisher-work");
    let root_cx = Context::current_with_span(root);
    let id = t
        .bus
        .publish(OutgoingMessage::new(&topic, "traced body"))
        .with_context(root_cx.clone())
        .await
        .unwrap();
    root_cx.span().end();
    rec.wait_until("the message", |s| !s.is_empty()).await;
    sub.shutdown().await;

    let spans = t.spans();
    let find = |name: &str| {
        spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
            panic!(
                "no span {name}; have {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
    };
    let root = find("publisher-work");
    let send = find(&format!("send {topic}"));
    let process = find(&format!("process {topic}"));
    let work = find("handler-work");
    let trace_id = root.span_context.trace_id();
    for s in [send, process, work] {
        assert_eq!(
            s.span_context.trace_id(),
            trace_id,
            "{} in the publisher's trace",
            s.name
        );
    }
    assert_eq!(send.parent_span_id, root.span_context.span_id());
    assert_eq!(process.parent_span_id, send.span_context.span_id());
    assert_eq!(work.parent_span_id, process.span_context.span_id());
    assert_eq!(send.span_kind, SpanKind::Producer);
    assert_eq!(process.span_kind, SpanKind::Consumer);
    let system = Value::from(t.bus.system());
    for (span, op) in [(send, "send"), (process, "process")] {
        assert_eq!(attr(span, "messaging.system"), Some(&system));
        assert_eq!(
            attr(span, "messaging.destination.name"),
            Some(&Value::from(topic.clone()))
        );
        assert_eq!(
            attr(span, "messaging.operation.name"),
            Some(&Value::from(op))
        );
        assert_eq!(
            attr(span, "messaging.operation.type"),
            Some(&Value::from(op))
        );
        assert_eq!(
            attr(span, "messaging.message.id"),
            Some(&Value::from(id.to_string()))
        );
        assert_eq!(
            attr(span, "messaging.message.body.size"),
            Some(&Value::I64(11))
        );
    }
    assert_eq!(
        attr(process, "messaging.consumer.group.name"),
        Some(&Value::from(group.clone()))
    );
    assert_eq!(
        attr(process, "pigeon.delivery.attempt"),
        Some(&Value::I64(1))
    );
    assert!(matches!(attr(process, "pigeon.queue_time_ms"), Some(Value::F64(ms)) if *ms >= 0.0));
    let seen = &rec.seen()[0];
    assert_eq!(
        seen.message.context.span().span_context().span_id(),
        process.span_context.span_id()
    );
}

/// A garbage `traceparent` (and `baggage`) neither fails nor poisons the handler: its span
/// starts a new trace.
pub async fn malformed_trace_context_starts_a_root(harness: &dyn Harness) {
    let t = traced_bus(harness).await;
    let topic = unique("conf.malformed");
    // A bus that makes no spans and has no current context injects nothing, so the garbage
    // headers reach the consumer as written.
    let raw = Bus::builder_shared(t.backend.clone())
        .tracing(false)
        .propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new())
        .build();
    let rec = Recorder::default();
    let sub = rec
        .subscribe(&t.bus, SubscribeOptions::new(&topic, unique("g")))
        .await;
    for garbage in [
        "not-a-traceparent",
        "00-00000000000000000000000000000000-0000000000000000-01",
        "zz",
    ] {
        raw.publish(
            OutgoingMessage::new(&topic, garbage)
                .header("traceparent", garbage)
                .header("baggage", "%%%;;=="),
        )
        .await
        .unwrap();
    }
    rec.wait_until("three messages", |s| s.len() >= 3).await;
    sub.shutdown().await;
    assert!(
        rec.seen().iter().all(|s| s.attempt == 1),
        "handled once each, never failed"
    );
    let process: Vec<_> = t
        .spans()
        .into_iter()
        .filter(|s| s.name == format!("process {topic}"))
        .collect();
    assert_eq!(process.len(), 3);
    for span in &process {
        assert_eq!(span.parent_span_id, SpanId::INVALID, "a new root");
        assert!(span.span_context.is_valid());
    }
}

/// With [`ContextCarrier::CorrelationId`] the context rides in the JSON payload, not in headers,
/// and the consumer still continues the producer's trace; a payload that is not a JSON object
/// keeps its bytes and carries the context in headers instead.
pub async fn context_rides_in_a_payload_field(harness: &dyn Harness) {
    let t = traced_bus_with(harness, ContextCarrier::CorrelationId).await;
    let topic = unique("conf.corr");
    let rec = Recorder::default();
    let r = rec.clone();
    let sub = t
        .bus
        .subscribe(
            SubscribeOptions::new(&topic, unique("g")),
            move |m: Message| {
                let r = r.clone();
                async move {
                    r.record(&m, 0);
                    Ok(())
                }
            },
        )
        .await
        .unwrap();
    t.bus
        .publish(OutgoingMessage::new(&topic, r#"{"mark":"x"}"#))
        .await
        .unwrap();
    t.bus
        .publish(OutgoingMessage::new(&topic, "plain text"))
        .await
        .unwrap();
    rec.wait_until("both messages", |s| s.len() == 2).await;
    sub.shutdown().await;

    let seen = rec.seen();
    let json = seen
        .iter()
        .find(|s| s.message.payload().starts_with(b"{"))
        .unwrap();
    let plain = seen
        .iter()
        .find(|s| s.message.payload() == b"plain text")
        .unwrap();
    assert_eq!(json.message.envelope.headers.get("traceparent"), None);
    let value: serde_json::Value = serde_json::from_slice(json.message.payload()).unwrap();
    assert_eq!(value["mark"], "x", "the payload keeps its own fields");
    let field = CorrelationId::from_json(&value).expect("a CorrelationId field");
    assert!(plain.message.envelope.headers.get("traceparent").is_some());

    let spans = t.spans();
    let sends: Vec<_> = spans
        .iter()
        .filter(|s| s.name == format!("send {topic}"))
        .collect();
    let processes: Vec<_> = spans
        .iter()
        .filter(|s| s.name == format!("process {topic}"))
        .collect();
    assert_eq!((sends.len(), processes.len()), (2, 2));
    for process in processes {
        let send = sends
            .iter()
            .find(|s| s.span_context.span_id() == process.parent_span_id)
            .expect("each process span is the child of a send span");
        assert_eq!(
            send.span_context.trace_id(),
            process.span_context.trace_id()
        );
    }
    let json_send = sends
        .iter()
        .find(|s| {
            field
                .to_field()
                .unwrap()
                .contains(&s.span_context.span_id().to_string())
        })
        .expect("the field names a send span");
    assert!(
        field
            .to_field()
            .unwrap()
            .contains(&json_send.span_context.trace_id().to_string())
    );
}

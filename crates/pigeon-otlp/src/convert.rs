//! OTLP spans → journey records.

use std::borrow::Cow;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue as OtlpKeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind as OtlpKind, status::StatusCode};
use pigeon_journey::{
    AttrValue, Event, KeyValue, Link, SpanId, SpanKind, SpanRecord, Status, TraceId,
};

/// The records of a request, and how many spans were rejected for invalid ids.
pub(crate) fn records(request: ExportTraceServiceRequest) -> (Vec<SpanRecord>, usize) {
    let mut out = Vec::new();
    let mut rejected = 0;
    for resource_spans in request.resource_spans {
        let mut service = "unknown_service".to_owned();
        let mut resource = Vec::new();
        for kv in resource_spans
            .resource
            .map(|r| r.attributes)
            .unwrap_or_default()
        {
            if kv.key == "service.name"
                && let Some(AttrValue::Str(name)) = value(kv.value.as_ref())
            {
                service = name;
            } else {
                resource.push(key_value(kv));
            }
        }
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                match record(span, &service, &resource) {
                    Some(r) => out.push(r),
                    None => rejected += 1,
                }
            }
        }
    }
    (out, rejected)
}

fn record(span: Span, service: &str, resource: &[KeyValue]) -> Option<SpanRecord> {
    let id = parse_trace_id(&span.trace_id)?;
    let own_id = parse_span_id(&span.span_id)?;
    let parent_span_id = if span.parent_span_id.is_empty() {
        None
    } else {
        Some(parse_span_id(&span.parent_span_id)?)
    };
    let status = match span.status {
        Some(s) if s.code == StatusCode::Error as i32 => Status::Error { message: s.message },
        Some(s) if s.code == StatusCode::Ok as i32 => Status::Ok,
        _ => Status::Unset,
    };
    Some(SpanRecord {
        trace_id: id,
        span_id: own_id,
        parent_span_id,
        name: span.name,
        kind: match OtlpKind::try_from(span.kind).unwrap_or(OtlpKind::Internal) {
            OtlpKind::Server => SpanKind::Server,
            OtlpKind::Client => SpanKind::Client,
            OtlpKind::Producer => SpanKind::Producer,
            OtlpKind::Consumer => SpanKind::Consumer,
            OtlpKind::Internal | OtlpKind::Unspecified => SpanKind::Internal,
        },
        service: service.to_owned(),
        start_unix_nano: span.start_time_unix_nano,
        end_unix_nano: span.end_time_unix_nano.max(span.start_time_unix_nano),
        status,
        attributes: span.attributes.into_iter().map(key_value).collect(),
        events: span
            .events
            .into_iter()
            .map(|e| Event {
                name: e.name,
                time_unix_nano: e.time_unix_nano,
                attributes: e.attributes.into_iter().map(key_value).collect(),
            })
            .collect(),
        links: span
            .links
            .into_iter()
            .filter_map(|l| {
                Some(Link {
                    trace_id: parse_trace_id(&l.trace_id)?,
                    span_id: parse_span_id(&l.span_id)?,
                    attributes: l.attributes.into_iter().map(key_value).collect(),
                })
            })
            .collect(),
        resource: resource.to_vec(),
    })
}

/// A valid trace id: 16 bytes, not all zero.
fn parse_trace_id(bytes: &[u8]) -> Option<TraceId> {
    let id: [u8; 16] = bytes.try_into().ok()?;
    (id != [0; 16]).then_some(TraceId(id))
}

/// A valid span id: 8 bytes, not all zero.
fn parse_span_id(bytes: &[u8]) -> Option<SpanId> {
    let id: [u8; 8] = bytes.try_into().ok()?;
    (id != [0; 8]).then_some(SpanId(id))
}

fn key_value(kv: OtlpKeyValue) -> KeyValue {
    let value = value(kv.value.as_ref()).unwrap_or(AttrValue::Str(String::new()));
    KeyValue {
        key: Cow::Owned(kv.key),
        value,
    }
}

fn value(value: Option<&AnyValue>) -> Option<AttrValue> {
    Some(match value?.value.as_ref()? {
        any_value::Value::StringValue(s) => AttrValue::Str(s.clone()),
        any_value::Value::BoolValue(b) => AttrValue::Bool(*b),
        any_value::Value::IntValue(i) => AttrValue::I64(*i),
        any_value::Value::DoubleValue(f) => AttrValue::F64(*f),
        // Arrays, maps and bytes are kept as their debug text: searchable, never lost.
        other => AttrValue::Str(format!("{other:?}")),
    })
}

//! The services' own spans: names, the attribute the journey store finds marks by, and
//! failures recorded the way trace backends show them (status error plus an `exception` event
//! with its type and message).

use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};

/// The tracer name of the services' own spans.
pub const TRACER_NAME: &str = "example-marker";

/// The attribute carrying a mark's id; the journey store indexes it.
pub const MESSAGE_ID: &str = "message.id";

/// Starts span `name` as a child of `parent` and returns its context.
pub(crate) fn start(tracer: &BoxedTracer, name: &'static str, parent: &Context) -> Context {
    parent.with_span(tracer.start_with_context(name, parent))
}

/// Marks the span of `cx` failed: an `exception` event of `kind` and the error status.
pub(crate) fn fail(cx: &Context, kind: &'static str, message: &str) {
    let span = cx.span();
    span.add_event(
        "exception",
        vec![
            KeyValue::new("exception.type", kind),
            KeyValue::new("exception.message", message.to_owned()),
        ],
    );
    span.set_status(Status::error(message.to_owned()));
}

/// The trace id of `cx` as 32 hex digits, for log lines.
pub(crate) fn trace_id(cx: &Context) -> String {
    cx.span().span_context().trace_id().to_string()
}

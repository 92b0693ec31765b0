//! The server's side of seed 000's tracing: the HTTP SERVER span that continues the client's
//! `traceparent`, `messaging.persist`, the receipt spans, and the seed's metrics.
//!
//! Only the OpenTelemetry API is used; the binary decides where spans go. No span, attribute
//! or log carries message content: ids, sizes and timings only.

use std::time::SystemTime;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::context::FutureExt as _;
use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::metrics::{Counter, Histogram};
use opentelemetry::trace::{Link, SpanContext, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::HeaderExtractor;

/// The tracer of the DM server.
pub(crate) fn tracer() -> BoxedTracer {
    global::tracer("pigeon-dm")
}

/// Starts span `name` with `attrs` as a child of the current context; returns its context.
pub(crate) fn child(name: &'static str, attrs: Vec<KeyValue>) -> Context {
    let tracer = tracer();
    let span = tracer
        .span_builder(name)
        .with_attributes(attrs)
        .start_with_context(&tracer, &Context::current());
    Context::current_with_span(span)
}

/// Starts span `name` at `started` as a child of `parent`: for work whose span is only known
/// to be due once it is done (an ack turns out to be a message's). Returns its context.
pub(crate) fn child_since(
    name: &'static str,
    attrs: Vec<KeyValue>,
    started: SystemTime,
    parent: &Context,
) -> Context {
    let tracer = tracer();
    let span = tracer
        .span_builder(name)
        .with_start_time(started)
        .with_attributes(attrs)
        .start_with_context(&tracer, parent);
    parent.with_span(span)
}

/// Starts span `name` as the root of a trace of its own, with a span link to the span
/// `traceparent` names: work long after that span (a delivery at a reconnect), which must not
/// keep its trace open for hours, and still leads back to it. A plain root when `traceparent`
/// is absent or malformed.
pub(crate) fn linked_root(
    name: &'static str,
    attrs: Vec<KeyValue>,
    traceparent: Option<&str>,
) -> Context {
    let tracer = tracer();
    let mut builder = tracer.span_builder(name).with_attributes(attrs);
    if let Some(linked) = traceparent.and_then(span_context_of) {
        builder = builder.with_links(vec![Link::with_context(linked)]);
    }
    let span = builder.start_with_context(&tracer, &Context::new());
    Context::new().with_span(span)
}

/// A context continuing the span `traceparent` names (a frame's), or an empty one.
pub(crate) fn continued(traceparent: Option<&str>) -> Context {
    traceparent
        .and_then(span_context_of)
        .map_or_else(Context::new, |remote| {
            Context::new().with_remote_span_context(remote)
        })
}

/// The span a `traceparent` names, if it parses.
fn span_context_of(traceparent: &str) -> Option<SpanContext> {
    let carrier =
        std::collections::HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let cx = global::get_text_map_propagator(|p| p.extract(&carrier));
    let linked = cx.span().span_context().clone();
    linked.is_valid().then_some(linked)
}

/// The W3C `traceparent` of `cx`, for a frame (through the global propagator).
pub(crate) fn traceparent(cx: &Context) -> Option<String> {
    let mut carrier = std::collections::HashMap::<String, String>::new();
    global::get_text_map_propagator(|p| p.inject_context(cx, &mut carrier));
    carrier.remove("traceparent")
}

/// Middleware: a SERVER span per request, child of the caller's `traceparent`, named after the
/// matched route, current while the handler runs.
pub(crate) async fn http_span(request: Request, next: Next) -> Response {
    let parent =
        global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(request.headers())));
    let method = request.method().to_string();
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |p| p.as_str().to_owned(),
    );
    let tracer = tracer();
    let span = tracer
        .span_builder(format!("{method} {route}"))
        .with_kind(SpanKind::Server)
        .with_attributes(vec![
            KeyValue::new("http.request.method", method),
            KeyValue::new("http.route", route),
        ])
        .start_with_context(&tracer, &parent);
    let cx = parent.with_span(span);
    let response = next.run(request).with_context(cx.clone()).await;
    let status = response.status();
    let span = cx.span();
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status.as_u16()),
    ));
    if status.is_server_error() {
        span.set_status(Status::error(status.to_string()));
    }
    span.end();
    response
}

/// The seed's server-side metrics.
pub(crate) struct Metrics {
    /// `messaging.delivery.method`: deliveries by method (websocket, push, sync).
    pub(crate) delivery_method: Counter<u64>,
    /// `messaging.receipt.latency_seconds`: time from send to read receipt.
    pub(crate) receipt_latency: Histogram<f64>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let meter = global::meter("pigeon-dm");
        Self {
            delivery_method: meter
                .u64_counter("messaging.delivery.method")
                .with_description("Message deliveries by method (websocket vs push)")
                .build(),
            receipt_latency: meter
                .f64_histogram("messaging.receipt.latency_seconds")
                .with_unit("s")
                .with_description("Time between message send and read receipt")
                .build(),
        }
    }
}

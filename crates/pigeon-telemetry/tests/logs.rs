//! Log lines carry the trace id and span id of the work they describe, in text and JSON.

// Test helpers outside #[test] fns: clippy.toml allows unwrap only inside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io;
use std::sync::{Arc, Mutex};

use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{TraceContextExt as _, Tracer as _};
use pigeon_telemetry::{LogFormat, Telemetry, log_layer};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// Collects everything written, for assertions.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
    fn line_with(&self, needle: &str) -> String {
        self.lines()
            .into_iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in {:?}", self.lines()))
    }
}

fn subscriber(
    telemetry: &Telemetry,
    format: LogFormat,
    capture: &Capture,
) -> impl tracing::Subscriber + Send + Sync {
    let writer = capture.clone();
    tracing_subscriber::registry()
        .with(log_layer(format, move || writer.clone()))
        .with(telemetry.otel_layer())
}

fn ids(span: &tracing::Span) -> (String, String) {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    assert!(sc.is_valid());
    (sc.trace_id().to_string(), sc.span_id().to_string())
}

#[test]
fn a_text_line_inside_a_span_carries_its_ids() {
    let (telemetry, _spans) = Telemetry::collecting(100).unwrap();
    let capture = Capture::default();
    tracing::subscriber::with_default(subscriber(&telemetry, LogFormat::Text, &capture), || {
        let span = tracing::info_span!("deliver", message.id = 7);
        let (trace_id, span_id) = ids(&span);
        span.in_scope(|| tracing::info!(attempt = 1, "delivered"));
        let line = capture.line_with("delivered");
        assert!(line.contains(&format!("trace_id={trace_id}")), "{line}");
        assert!(line.contains(&format!("span_id={span_id}")), "{line}");

        // Explicit parent, not entered.
        tracing::info!(parent: &span, "explicit parent");
        let line = capture.line_with("explicit parent");
        assert!(line.contains(&format!("span_id={span_id}")), "{line}");

        // No span at all: no ids.
        tracing::info!("outside");
        assert!(!capture.line_with("outside").contains("trace_id="));
    });
}

#[test]
fn a_json_line_has_trace_id_and_span_id_fields() {
    let (telemetry, _spans) = Telemetry::collecting(100).unwrap();
    let capture = Capture::default();
    tracing::subscriber::with_default(subscriber(&telemetry, LogFormat::Json, &capture), || {
        let outer = tracing::info_span!("send");
        let _outer = outer.enter();
        let inner = tracing::info_span!("persist");
        let (trace_id, span_id) = ids(&inner);
        inner.in_scope(|| tracing::warn!(size = 42, "stored"));
        let line = capture.line_with("stored");
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(json["trace_id"], trace_id.as_str());
        assert_eq!(json["span_id"], span_id.as_str());
        assert_eq!(json["level"], "WARN");
        assert_eq!(json["fields"]["size"], 42);
        assert_eq!(json["span"]["name"], "persist");
        // Same trace as the parent span.
        assert_eq!(ids(&outer).0, trace_id);
    });
}

#[test]
fn without_a_tracing_span_the_current_otel_context_is_used() {
    let (telemetry, _spans) = Telemetry::collecting(100).unwrap();
    let capture = Capture::default();
    let tracer = telemetry.tracer("bus");
    tracing::subscriber::with_default(subscriber(&telemetry, LogFormat::Text, &capture), || {
        // As the bus does: an OTel context attached to a handler future.
        let cx = opentelemetry::Context::current_with_span(tracer.start("process orders"));
        let expected = cx.span().span_context().clone();
        let handler = async {
            tracing::info!("handling message");
        }
        .with_context(cx.clone());
        futures_lite_block_on(handler);
        let line = capture.line_with("handling message");
        assert!(
            line.contains(&format!("trace_id={}", expected.trace_id())),
            "{line}"
        );
        assert!(
            line.contains(&format!("span_id={}", expected.span_id())),
            "{line}"
        );

        // And a tracing span opened inside that context joins its trace.
        let _attached = cx.attach();
        let child = tracing::info_span!("child");
        child.in_scope(|| tracing::info!("in child"));
        let line = capture.line_with("in child");
        assert!(
            line.contains(&format!("trace_id={}", expected.trace_id())),
            "{line}"
        );
        assert!(
            !line.contains(&format!("span_id={}", expected.span_id())),
            "{line}"
        );
    });
}

/// Polls a future that never waits (enough for the test above) to completion.
fn futures_lite_block_on<F: std::future::Future>(future: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(future)
}

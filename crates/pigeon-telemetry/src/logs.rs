//! Log lines that carry the trace id and span id of the work they describe.
//!
//! Why: a log line is only useful next to a trace if you can jump from one to the other. The
//! formatter wraps `tracing-subscriber`'s own text or JSON formatter and appends
//! `trace_id=… span_id=…` (text) or `"trace_id"`, `"span_id"` fields (JSON).
//!
//! Where the ids come from, for an event without an explicit parent:
//! `opentelemetry::Context::current()` first. The OpenTelemetry layer attaches a `tracing` span's
//! context when the span is entered, and the bus attaches contexts to handler futures with
//! `FutureExt::with_context`; whichever was attached last is the innermost piece of work, so the
//! current context is never less precise than the current `tracing` span. When it holds no
//! valid span (or the event names its parent explicitly), the ids come from the `tracing` span's
//! OpenTelemetry data, looked up through the dispatcher captured at registration (the
//! thread-local default dispatcher is not reachable from inside an event callback).

use std::sync::{Arc, OnceLock};

use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use tracing::dispatcher::WeakDispatch;
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::Context as LayerContext;
use tracing_subscriber::registry::LookupSpan;

use crate::config::LogFormat;

/// A `tracing` layer writing one line per event to `writer`, with the event's trace and span
/// ids. Use it alongside the OpenTelemetry layer ([`crate::Telemetry::otel_layer`]); without it
/// only contexts attached with `opentelemetry::Context` yield ids.
///
/// [`crate::init`] installs this with standard error as the writer; tests pass their own
/// writer (any `MakeWriter`) to capture output.
pub fn log_layer<S, W>(format: LogFormat, writer: W) -> Box<dyn Layer<S> + Send + Sync + 'static>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let dispatch = Arc::new(OnceLock::new());
    let capture = CaptureDispatch {
        dispatch: Arc::clone(&dispatch),
    };
    match format {
        LogFormat::Text => {
            let inner = tracing_subscriber::fmt::format().with_ansi(false);
            let fmt = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer)
                .event_format(WithTraceIds {
                    inner,
                    json: false,
                    dispatch,
                });
            Box::new(capture.and_then(fmt))
        }
        LogFormat::Json => {
            let inner = tracing_subscriber::fmt::format().json();
            let fmt = tracing_subscriber::fmt::layer()
                .json()
                .with_writer(writer)
                .event_format(WithTraceIds {
                    inner,
                    json: true,
                    dispatch,
                });
            Box::new(capture.and_then(fmt))
        }
    }
}

/// Remembers the dispatcher the layers are registered with.
struct CaptureDispatch {
    dispatch: Arc<OnceLock<WeakDispatch>>,
}

impl<S: Subscriber> Layer<S> for CaptureDispatch {
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_event(&self, _event: &Event<'_>, _ctx: LayerContext<'_, S>) {}
}

/// Formats with `inner`, then adds the trace and span ids.
struct WithTraceIds<F> {
    inner: F,
    json: bool,
    dispatch: Arc<OnceLock<WeakDispatch>>,
}

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let ids = self.ids(ctx, event);
        let mut line = String::with_capacity(256);
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let Some((trace_id, span_id)) = ids else {
            return writer.write_str(&line);
        };
        let body = line.trim_end_matches('\n');
        if self.json
            && let Some(object) = body.strip_suffix('}')
        {
            let sep = if object.ends_with('{') { "" } else { "," };
            writeln!(
                writer,
                "{object}{sep}\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\"}}"
            )
        } else {
            writeln!(writer, "{body} trace_id={trace_id} span_id={span_id}")
        }
    }
}

impl<F> WithTraceIds<F> {
    fn ids<S, N>(&self, ctx: &FmtContext<'_, S, N>, event: &Event<'_>) -> Option<(TraceId, SpanId)>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        N: for<'w> FormatFields<'w> + 'static,
    {
        if event.is_contextual()
            && let Some(ids) = ids_of(&opentelemetry::Context::current())
        {
            return Some(ids);
        }
        let span = ctx.parent_span()?;
        let dispatch = self.dispatch.get()?.upgrade()?;
        let cx = tracing_opentelemetry::get_otel_context(&span.id(), &dispatch)?;
        ids_of(&cx)
    }
}

fn ids_of(cx: &opentelemetry::Context) -> Option<(TraceId, SpanId)> {
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| (sc.trace_id(), sc.span_id()))
}

//! Helpers for the services' own spans: a timed step as a child span, and failures recorded the
//! way trace backends show them (status error plus an `exception` event).

use std::error::Error;
use std::time::Duration;

use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{FutureExt as _, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};

use crate::Order;

/// The attribute the journey store indexes orders by.
pub const ORDER_ID: &str = "order.id";

/// `order.id`, `order.source` and `order.dish` of `order`.
pub(crate) fn order_attributes(order: &Order) -> Vec<KeyValue> {
    vec![
        KeyValue::new(ORDER_ID, order.order_id.to_string()),
        KeyValue::new("order.source", order.source.as_str()),
        KeyValue::new("order.dish", order.dish.clone()),
    ]
}

/// Starts span `name` as a child of `parent`, with the order's attributes; returns its context.
pub(crate) fn start(
    tracer: &BoxedTracer,
    name: &'static str,
    parent: &Context,
    order: &Order,
) -> Context {
    let span = tracer
        .span_builder(name)
        .with_attributes(order_attributes(order))
        .start_with_context(tracer, parent);
    parent.with_span(span)
}

/// Runs a step that takes `duration` inside span `name` (child of `parent`). When `fail` is
/// given, the span ends as an error with `fail` recorded as an `exception` event, and the error
/// is returned.
pub(crate) async fn timed_step<E: Error>(
    tracer: &BoxedTracer,
    name: &'static str,
    parent: &Context,
    order: &Order,
    duration: Duration,
    fail: Option<E>,
) -> Result<(), E> {
    let cx = start(tracer, name, parent, order);
    take_time(duration).with_context(cx.clone()).await;
    let result = match fail {
        Some(error) => {
            record_failure(&cx, &error);
            Err(error)
        }
        None => Ok(()),
    };
    cx.span().end();
    result
}

/// Marks the span of `cx` as failed by `error`.
pub(crate) fn record_failure(cx: &Context, error: &dyn Error) {
    let span = cx.span();
    span.record_error(error);
    span.set_status(Status::error(error.to_string()));
}

/// The trace id of `cx`, as 32 hex digits (what log lines print).
pub(crate) fn trace_id(cx: &Context) -> String {
    cx.span().span_context().trace_id().to_string()
}

/// Waits `duration`; zero (steps scaled to nothing, as in the benchmark) does not touch the
/// timer, whose millisecond tick would otherwise become the step time.
pub(crate) async fn take_time(duration: Duration) {
    if !duration.is_zero() {
        tokio::time::sleep(duration).await;
    }
}

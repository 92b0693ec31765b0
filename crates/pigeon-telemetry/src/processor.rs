//! The `SpanProcessor` that feeds the span sink.
//!
//! Why a processor of our own: see [`crate::sink`]. `on_end` filters unsampled spans and pushes
//! into the sink, nothing else; flush and shutdown are delegated to the sink, which does the
//! waiting on its own threads.

use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

use crate::error::FlushError;
use crate::sink::SpanSink;

/// Feeds finished, sampled spans into a [`SpanSink`]. Get one from [`SpanSink::processor`].
#[derive(Debug, Clone)]
pub struct SinkProcessor {
    sink: SpanSink,
}

impl SinkProcessor {
    pub(crate) fn new(sink: SpanSink) -> Self {
        Self { sink }
    }

    /// The sink this processor feeds.
    pub fn sink(&self) -> &SpanSink {
        &self.sink
    }
}

fn to_sdk(error: FlushError) -> OTelSdkError {
    match error {
        FlushError::Timeout(t) => OTelSdkError::Timeout(t),
        FlushError::ShutDown => OTelSdkError::AlreadyShutdown,
    }
}

impl SpanProcessor for SinkProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    #[inline]
    fn on_end(&self, span: SpanData) {
        if span.span_context.is_sampled() {
            self.sink.push(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.sink.force_flush().map_err(to_sdk)
    }

    /// Waits at most the shorter of `timeout` and the sink's flush timeout: the SDK passes a
    /// fixed 5 s when a provider is dropped, which may happen on an async worker.
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.sink
            .shutdown_with_timeout(timeout.min(self.sink.flush_timeout()))
            .map_err(to_sdk)
    }

    fn shutdown(&self) -> OTelSdkResult {
        self.shutdown_with_timeout(self.sink.flush_timeout())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.sink.set_resource(resource);
    }
}

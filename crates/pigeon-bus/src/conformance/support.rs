//! Helpers the cases share: unique names, a recorder of handled messages, waiting with a bound.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tokio::sync::Notify;

use super::Harness;
use crate::{Bus, Message, MessageId, SubscribeOptions, Subscription};

/// Longest any case waits for something that should happen.
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// A topic or group name no other case or run uses.
pub(crate) fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// A bus over a freshly opened backend, with spans captured in memory.
pub(crate) struct Traced {
    pub(crate) backend: Arc<dyn crate::Backend>,
    pub(crate) bus: Bus,
    pub(crate) exporter: InMemorySpanExporter,
    pub(crate) provider: SdkTracerProvider,
}

pub(crate) async fn traced_bus(harness: &dyn Harness) -> Traced {
    traced_bus_with(harness, crate::ContextCarrier::Headers).await
}

/// A traced bus publishing its trace context with `carrier`.
pub(crate) async fn traced_bus_with(
    harness: &dyn Harness,
    carrier: crate::ContextCarrier,
) -> Traced {
    let backend = harness.open().await;
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    use opentelemetry::trace::TracerProvider as _;
    let bus = Bus::builder_shared(backend.clone())
        .tracer(provider.tracer("conformance"))
        .propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new())
        .carrier(carrier)
        .build();
    Traced {
        backend,
        bus,
        exporter,
        provider,
    }
}

impl Traced {
    pub(crate) fn spans(&self) -> Vec<SpanData> {
        let _ = self.provider.force_flush();
        self.exporter.get_finished_spans().unwrap_or_default()
    }
}

/// What a handler saw, in order.
#[derive(Clone, Default)]
pub(crate) struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
    changed: Arc<Notify>,
}

/// One handler call.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) id: MessageId,
    pub(crate) payload: Vec<u8>,
    pub(crate) key: Option<String>,
    pub(crate) attempt: u32,
    pub(crate) member: usize,
    pub(crate) at: std::time::Instant,
    pub(crate) message: Message,
}

impl Recorder {
    pub(crate) fn record(&self, message: &Message, member: usize) {
        let seen = Seen {
            id: message.envelope.id.clone(),
            payload: message.payload().to_vec(),
            key: message.envelope.key.as_deref().map(str::to_owned),
            attempt: message.attempt,
            member,
            at: std::time::Instant::now(),
            message: message.clone(),
        };
        self.seen.lock().unwrap().push(seen);
        self.changed.notify_waiters();
    }

    /// Subscribes a handler that records every message and acks it.
    pub(crate) async fn subscribe(&self, bus: &Bus, options: SubscribeOptions) -> Subscription {
        let recorder = self.clone();
        bus.subscribe(options, move |m: Message| {
            recorder.record(&m, 0);
            std::future::ready(Ok(()))
        })
        .await
        .unwrap()
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `done(seen)` holds; panics with what was seen when it does not in time.
    pub(crate) async fn wait_until(&self, what: &str, done: impl Fn(&[Seen]) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let changed = self.changed.notified();
            if done(&self.seen.lock().unwrap()) {
                return;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                let seen = self.seen();
                panic!(
                    "timed out waiting for {what}; saw {} calls: {:?}",
                    seen.len(),
                    seen.iter().map(|s| (&s.id, s.attempt)).collect::<Vec<_>>()
                );
            }
        }
    }
}

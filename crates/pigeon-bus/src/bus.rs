//! [`Bus`]: the handle services publish and subscribe through.

use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::global::BoxedTracer;
use opentelemetry::metrics::Meter;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::Tracer;

use crate::instrument::{self, Instruments};
use crate::subscription::{self, SubscribeOptions, Subscription};
use crate::{
    Backend, ContextCarrier, Envelope, Handler, MessageId, OutgoingMessage, PublishError,
    SubscribeError, validate_topic,
};

/// A cheap, cloneable handle to one backend, with tracing and metrics built in.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<BusInner>,
}

pub(crate) struct BusInner {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) instruments: Instruments,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("system", &self.inner.backend.system())
            .finish()
    }
}

/// Configures a [`Bus`]: where its spans and metrics go.
pub struct BusBuilder {
    backend: Arc<dyn Backend>,
    tracer: Option<BoxedTracer>,
    tracing: bool,
    meter: Option<Meter>,
    propagator: Option<Arc<dyn TextMapPropagator + Send + Sync>>,
    carrier: ContextCarrier,
}

impl BusBuilder {
    /// Spans go to this tracer. Default: the global tracer provider's `pigeon-bus` tracer.
    pub fn tracer<T>(mut self, tracer: T) -> Self
    where
        T: Tracer + Send + Sync + 'static,
        T::Span: Send + Sync + 'static,
    {
        self.tracer = Some(BoxedTracer::new(Box::new(tracer)));
        self
    }

    /// With `false`, the bus makes no spans of its own (trace context is still propagated).
    /// Default `true`.
    pub fn tracing(mut self, on: bool) -> Self {
        self.tracing = on;
        self
    }

    /// Metrics go to this meter. Default: the global meter provider's `pigeon-bus` meter.
    pub fn meter(mut self, meter: Meter) -> Self {
        self.meter = Some(meter);
        self
    }

    /// Trace context is injected and extracted with this propagator. Default: the global
    /// text-map propagator (binaries set W3C TraceContext + Baggage through pigeon-telemetry).
    pub fn propagator(
        mut self,
        propagator: impl TextMapPropagator + Send + Sync + 'static,
    ) -> Self {
        self.propagator = Some(Arc::new(propagator));
        self
    }

    /// Where published messages carry their trace context. Default: headers. Subscribers read
    /// either, whatever this says.
    pub fn carrier(mut self, carrier: ContextCarrier) -> Self {
        self.carrier = carrier;
        self
    }

    /// Builds the bus.
    pub fn build(self) -> Bus {
        let tracer = self
            .tracing
            .then(|| self.tracer.unwrap_or_else(instrument::default_tracer));
        let meter = self.meter.unwrap_or_else(instrument::default_meter);
        let instruments = Instruments::new(
            tracer,
            self.propagator,
            self.carrier,
            &meter,
            self.backend.system(),
        );
        Bus {
            inner: Arc::new(BusInner {
                backend: self.backend,
                instruments,
            }),
        }
    }
}

thread_local! {
    /// The topic this thread last published to and found valid. Publishers reuse one
    /// `Arc<str>` per topic, so a pointer comparison usually replaces the byte scan.
    static LAST_VALID_TOPIC: std::cell::RefCell<Option<Arc<str>>> = const { std::cell::RefCell::new(None) };
}

fn validate_topic_cached(topic: &Arc<str>) -> Result<(), crate::NameError> {
    let known =
        LAST_VALID_TOPIC.with_borrow(|last| last.as_ref().is_some_and(|t| Arc::ptr_eq(t, topic)));
    if !known {
        validate_topic(topic)?;
        LAST_VALID_TOPIC.set(Some(topic.clone()));
    }
    Ok(())
}

impl Bus {
    /// A bus over `backend` with the global tracer, meter and propagator.
    pub fn new(backend: impl Backend) -> Self {
        Self::builder(backend).build()
    }

    /// Configures a bus over `backend`.
    pub fn builder(backend: impl Backend) -> BusBuilder {
        Self::builder_shared(Arc::new(backend))
    }

    /// Configures a bus over a backend that is shared with other buses.
    pub fn builder_shared(backend: Arc<dyn Backend>) -> BusBuilder {
        BusBuilder {
            backend,
            tracer: None,
            tracing: true,
            meter: None,
            propagator: None,
            carrier: ContextCarrier::Headers,
        }
    }

    /// The backend's `messaging.system` name.
    pub fn system(&self) -> &'static str {
        self.inner.instruments.system()
    }

    /// Largest message the backend accepts.
    pub fn max_message_bytes(&self) -> usize {
        self.inner.backend.max_message_bytes()
    }

    /// Publishes a message under a PRODUCER span `send {topic}`, child of the current context,
    /// whose context rides in the message's headers. Returns once the backend has accepted it
    /// (durably, when the backend is durable and the message not transient).
    pub async fn publish(&self, message: OutgoingMessage) -> Result<MessageId, PublishError> {
        validate_topic_cached(&message.topic)?;
        let published_at = SystemTime::now();
        let id = message
            .id
            .unwrap_or_else(|| MessageId::generate_at(published_at));
        let mut envelope = Envelope {
            id: id.clone(),
            topic: message.topic,
            key: message.key,
            headers: message.headers,
            payload: message.payload,
            published_at,
            transient: message.transient,
        };
        let max = self.inner.backend.max_message_bytes();
        let instruments = &self.inner.instruments;
        let span = instruments.start_send(&mut envelope);
        let size = envelope.encoded_len();
        let topic = envelope.topic.clone();
        let result = if size > max {
            Err(PublishError::TooLarge { size, max })
        } else {
            self.inner.backend.publish(envelope).await
        };
        instruments.finish_send(
            span,
            &topic,
            result.as_ref().err().map(|e| e as &dyn std::error::Error),
        );
        result.map(|()| id)
    }

    /// Runs `handler` for every message of `options.topic` that reaches `options.group`, until
    /// the returned [`Subscription`] is shut down or dropped.
    pub async fn subscribe<H: Handler>(
        &self,
        options: SubscribeOptions,
        handler: H,
    ) -> Result<Subscription, SubscribeError> {
        subscription::start(self.clone(), options, handler).await
    }

    /// Whether the backend can take messages now, and why not.
    pub async fn health(&self) -> Result<(), String> {
        self.inner.backend.health().await
    }

    /// Shuts the backend down (flushing a durable log). Subscriptions should be shut down first.
    pub async fn shutdown(&self) {
        self.inner.backend.shutdown().await;
    }

    pub(crate) fn inner(&self) -> &BusInner {
        &self.inner
    }
}

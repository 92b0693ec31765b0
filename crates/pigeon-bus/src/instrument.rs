//! The bus's spans and metrics, per the OpenTelemetry messaging semantic conventions.
//!
//! Everything observable about a hop is produced here, once, for every backend: the PRODUCER
//! span `send {topic}` and its injection into headers, the CONSUMER span `process {topic}` whose
//! parent is extracted from headers, the dead-letter span, and the metrics
//! `messaging.client.sent.messages`, `messaging.client.consumed.messages`,
//! `messaging.process.duration` and `pigeon.messaging.queue_time`.
//!
//! Hot path notes: span attributes are only built when the span records, and malformed trace
//! context is detected by comparing "a header was there" with "a valid context came out".

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::baggage::BaggageExt;
use opentelemetry::global::{self, BoxedSpan, BoxedTracer};
use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_semantic_conventions::attribute as semconv;
use opentelemetry_semantic_conventions::metric as semconv_metric;

use crate::correlation::{self, CorrelationId};
use crate::{ContextCarrier, Envelope};

/// Attribute: the delivery attempt, 1 on first delivery.
pub(crate) const DELIVERY_ATTEMPT: &str = "pigeon.delivery.attempt";
/// Attribute: milliseconds from publish to handler start.
pub(crate) const QUEUE_TIME_MS: &str = "pigeon.queue_time_ms";
/// Attribute: why a message was dead-lettered.
pub(crate) const DEAD_LETTER_REASON: &str = "pigeon.dead_letter.reason";
/// Attribute: the message key, when it has one.
pub(crate) const MESSAGE_KEY: &str = "pigeon.message.key";

/// Span names per topic ("send t", "process t"), made once: a span name is a
/// `Cow<'static, str>`, so a name kept for the life of the process costs no allocation per span.
/// Bounded: past `MAX_NAMED_TOPICS` topics, names are formatted per span instead.
struct SpanNames {
    names: std::sync::RwLock<std::collections::HashMap<Arc<str>, [&'static str; 3]>>,
}

thread_local! {
    /// The span names this thread used last, with their topic.
    static LAST_NAMES: std::cell::RefCell<Option<(Arc<str>, [&'static str; 3])>> =
        const { std::cell::RefCell::new(None) };
}

/// Most topics whose span names are kept (a few dozen bytes each).
const MAX_NAMED_TOPICS: usize = 10_000;

impl SpanNames {
    fn new() -> Self {
        Self {
            names: std::sync::RwLock::new(std::collections::HashMap::new()),
        }
    }

    /// `[send, process, dead_letter]` names of `topic`.
    fn get(&self, topic: &Arc<str>, which: usize) -> std::borrow::Cow<'static, str> {
        const OPS: [&str; 3] = ["send", "process", "dead_letter"];
        // Most calls on a thread are for the topic it used last: compare pointers, skip hashing.
        let last = LAST_NAMES.with_borrow(|last| {
            last.as_ref()
                .filter(|(t, _)| Arc::ptr_eq(t, topic))
                .map(|(_, names)| names[which])
        });
        if let Some(name) = last {
            return std::borrow::Cow::Borrowed(name);
        }
        if let Ok(names) = self.names.read()
            && let Some(names) = names.get(topic)
        {
            let names = *names;
            LAST_NAMES.set(Some((topic.clone(), names)));
            return std::borrow::Cow::Borrowed(names[which]);
        }
        if let Ok(mut names) = self.names.write()
            && names.len() < MAX_NAMED_TOPICS
        {
            let made = OPS.map(|op| &*Box::leak(format!("{op} {topic}").into_boxed_str()));
            let entry = names.entry(topic.clone()).or_insert(made);
            return std::borrow::Cow::Borrowed(entry[which]);
        }
        std::borrow::Cow::Owned(format!("{} {topic}", OPS[which]))
    }
}

/// Where the bus's spans and metrics go.
pub(crate) struct Instruments {
    names: SpanNames,
    tracer: Option<BoxedTracer>,
    propagator: Option<Arc<dyn TextMapPropagator + Send + Sync>>,
    carrier: ContextCarrier,
    system: &'static str,
    sent: Counter<u64>,
    consumed: Counter<u64>,
    process_duration: Histogram<f64>,
    queue_time: Histogram<f64>,
    malformed_context: Counter<u64>,
    dead_lettered: Counter<u64>,
}

impl Instruments {
    pub(crate) fn new(
        tracer: Option<BoxedTracer>,
        propagator: Option<Arc<dyn TextMapPropagator + Send + Sync>>,
        carrier: ContextCarrier,
        meter: &Meter,
        system: &'static str,
    ) -> Self {
        Self {
            names: SpanNames::new(),
            tracer,
            propagator,
            carrier,
            system,
            sent: meter
                .u64_counter(semconv_metric::MESSAGING_CLIENT_SENT_MESSAGES)
                .with_unit("{message}")
                .with_description("Messages a producer attempted to send")
                .build(),
            consumed: meter
                .u64_counter(semconv_metric::MESSAGING_CLIENT_CONSUMED_MESSAGES)
                .with_unit("{message}")
                .with_description("Messages delivered to a consumer")
                .build(),
            process_duration: meter
                .f64_histogram(semconv_metric::MESSAGING_PROCESS_DURATION)
                .with_unit("s")
                .with_description("Duration of processing operation")
                .with_boundaries(vec![
                    0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
                    5.0, 10.0,
                ])
                .build(),
            queue_time: meter
                .f64_histogram("pigeon.messaging.queue_time")
                .with_unit("ms")
                .with_description("Time from publish to the start of the handler")
                .with_boundaries(vec![
                    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0,
                    30000.0,
                ])
                .build(),
            malformed_context: meter
                .u64_counter("pigeon.bus.trace_context.malformed")
                .with_unit("{message}")
                .with_description("Messages whose traceparent or baggage header could not be parsed; each started a new trace")
                .build(),
            dead_lettered: meter
                .u64_counter("pigeon.bus.dead_lettered")
                .with_unit("{message}")
                .with_description("Messages moved to their topic's dead-letter topic")
                .build(),
        }
    }

    pub(crate) fn system(&self) -> &'static str {
        self.system
    }

    /// True when the bus makes spans of its own.
    pub(crate) fn traced(&self) -> bool {
        self.tracer.is_some()
    }

    fn with_propagator<T>(&self, f: impl FnOnce(&dyn TextMapPropagator) -> T) -> T {
        match &self.propagator {
            Some(p) => f(p.as_ref()),
            None => {
                let mut f = Some(f);
                global::get_text_map_propagator(|p| f.take().map(|f| f(p)))
                    .unwrap_or_else(|| unreachable!("the propagator closure runs once"))
            }
        }
    }

    /// Writes `cx` into the envelope: its headers, or its payload's `CorrelationId` field when
    /// the bus is configured so and the payload is a JSON object.
    fn inject(&self, cx: &Context, envelope: &mut Envelope) {
        if self.carrier == ContextCarrier::CorrelationId {
            let mut carrier = CorrelationId::new();
            self.with_propagator(|p| p.inject_context(cx, &mut carrier));
            if let Some(payload) = correlation::write_into_payload(&envelope.payload, &carrier) {
                envelope.payload = payload;
                return;
            }
        }
        self.with_propagator(|p| p.inject_context(cx, &mut envelope.headers));
    }

    /// Starts `send {topic}` as a child of the current context and injects its context into the
    /// envelope (see [`ContextCarrier`]). With tracing off, the current context is still
    /// propagated.
    pub(crate) fn start_send(&self, envelope: &mut Envelope) -> Option<BoxedSpan> {
        let parent = Context::current();
        let Some(tracer) = &self.tracer else {
            self.inject(&parent, envelope);
            return None;
        };
        // Attributes go in the builder: the SDK takes the vector as is, where `set_attribute`
        // after the start would search for duplicates one by one. The publish time is the
        // span's start, saving a clock read.
        let span = tracer
            .span_builder(self.names.get(&envelope.topic, 0))
            .with_kind(SpanKind::Producer)
            .with_start_time(envelope.published_at)
            .with_attributes(self.common(envelope, "send", "send"))
            .start_with_context(tracer, &parent);
        let cx = parent.with_remote_span_context(span.span_context().clone());
        self.inject(&cx, envelope);
        Some(span)
    }

    /// Ends the send span and counts the attempt.
    pub(crate) fn finish_send(
        &self,
        span: Option<BoxedSpan>,
        topic: &Arc<str>,
        error: Option<&dyn std::error::Error>,
    ) {
        let attrs = [
            KeyValue::new(semconv::MESSAGING_SYSTEM, self.system),
            KeyValue::new(semconv::MESSAGING_DESTINATION_NAME, topic.clone()),
            KeyValue::new(semconv::MESSAGING_OPERATION_NAME, "send"),
            KeyValue::new(
                semconv::ERROR_TYPE,
                if error.is_some() {
                    "publish_failed"
                } else {
                    ""
                },
            ),
        ];
        if let Some(mut span) = span {
            if let Some(err) = error {
                span.set_status(Status::error(err.to_string()));
            }
            span.end();
        }
        let attrs = if error.is_some() {
            &attrs[..]
        } else {
            &attrs[..3]
        };
        self.sent.add(1, attrs);
    }

    /// Reads the trace context of a delivered message: from its headers, or from its payload's
    /// `CorrelationId` field when it has no `traceparent` header. A malformed context is
    /// counted and yields an empty one, so the consumer span becomes a new root.
    pub(crate) fn extract(&self, envelope: &Envelope) -> Context {
        let headers = &envelope.headers;
        let parent_present = headers.get("traceparent").is_some();
        if !parent_present && let Some(carrier) = correlation::read_from_payload(&envelope.payload)
        {
            let cx = self.with_propagator(|p| p.extract(&carrier));
            if !cx.span().span_context().is_valid() {
                self.malformed_context
                    .add(1, &[KeyValue::new(semconv::MESSAGING_SYSTEM, self.system)]);
            }
            return cx;
        }
        let cx = self.with_propagator(|p| p.extract(headers));
        let baggage_present = headers.get("baggage").is_some();
        if parent_present && !cx.span().span_context().is_valid()
            || baggage_present && cx.baggage().is_empty()
        {
            self.malformed_context
                .add(1, &[KeyValue::new(semconv::MESSAGING_SYSTEM, self.system)]);
        }
        cx
    }

    /// Starts `process {topic}` for one delivery, child of the producer's context, at `start`.
    pub(crate) fn start_process(
        &self,
        parent: &Context,
        envelope: &Envelope,
        group: &Arc<str>,
        attempt: u32,
        queue_time: Duration,
        start: SystemTime,
    ) -> Context {
        let Some(tracer) = &self.tracer else {
            return parent.clone();
        };
        let mut attrs = self.common(envelope, "process", "process");
        attrs.push(KeyValue::new(
            semconv::MESSAGING_CONSUMER_GROUP_NAME,
            group.clone(),
        ));
        attrs.push(KeyValue::new(DELIVERY_ATTEMPT, i64::from(attempt)));
        attrs.push(KeyValue::new(QUEUE_TIME_MS, queue_time.as_secs_f64() * 1e3));
        let span = tracer
            .span_builder(self.names.get(&envelope.topic, 1))
            .with_kind(SpanKind::Consumer)
            .with_start_time(start)
            .with_attributes(attrs)
            .start_with_context(tracer, parent);
        parent.with_span(span)
    }

    /// Starts the span that records a dead-lettering, child of `parent`.
    pub(crate) fn start_dead_letter(
        &self,
        parent: &Context,
        envelope: &Envelope,
        group: &str,
        attempt: u32,
        reason: &str,
    ) -> Context {
        let Some(tracer) = &self.tracer else {
            return parent.clone();
        };
        let mut span = tracer
            .span_builder(self.names.get(&envelope.topic, 2))
            .with_kind(SpanKind::Internal)
            .start_with_context(tracer, parent);
        if span.is_recording() {
            let mut attrs = self.common(envelope, "dead_letter", "settle");
            attrs.push(KeyValue::new(
                semconv::MESSAGING_CONSUMER_GROUP_NAME,
                group.to_owned(),
            ));
            attrs.push(KeyValue::new(DELIVERY_ATTEMPT, i64::from(attempt)));
            attrs.push(KeyValue::new(DEAD_LETTER_REASON, reason.to_owned()));
            span.set_attributes(attrs);
            span.set_status(Status::error(reason.to_owned()));
        }
        parent.with_span(span)
    }

    /// Metrics for one handled delivery.
    pub(crate) fn record_process(
        &self,
        attrs: &[KeyValue],
        duration: Duration,
        queue_time: Duration,
        failed: bool,
    ) {
        if failed {
            let mut with_error = attrs.to_vec();
            with_error.push(KeyValue::new(semconv::ERROR_TYPE, "handler_failed"));
            self.process_duration
                .record(duration.as_secs_f64(), &with_error);
        } else {
            self.process_duration.record(duration.as_secs_f64(), attrs);
        }
        self.queue_time
            .record(queue_time.as_secs_f64() * 1e3, &attrs[..2]);
    }

    /// Counts deliveries handed to a consumer.
    pub(crate) fn record_consumed(&self, attrs: &[KeyValue], count: u64) {
        if count > 0 {
            self.consumed.add(count, attrs);
        }
    }

    /// Counts a dead-lettered message.
    pub(crate) fn record_dead_letter(&self, attrs: &[KeyValue]) {
        self.dead_lettered.add(1, attrs);
    }

    /// The constant attributes of a subscription's metrics: system, destination, group,
    /// operation (the first two are also the queue-time histogram's).
    pub(crate) fn consumer_attrs(&self, topic: &str, group: &str) -> Vec<KeyValue> {
        vec![
            KeyValue::new(semconv::MESSAGING_SYSTEM, self.system),
            KeyValue::new(semconv::MESSAGING_DESTINATION_NAME, topic.to_owned()),
            KeyValue::new(semconv::MESSAGING_CONSUMER_GROUP_NAME, group.to_owned()),
            KeyValue::new(semconv::MESSAGING_OPERATION_NAME, "process"),
        ]
    }

    fn common(
        &self,
        envelope: &Envelope,
        operation: &'static str,
        operation_type: &'static str,
    ) -> Vec<KeyValue> {
        let mut attrs = Vec::with_capacity(11);
        attrs.push(KeyValue::new(semconv::MESSAGING_SYSTEM, self.system));
        attrs.push(KeyValue::new(
            semconv::MESSAGING_DESTINATION_NAME,
            envelope.topic.clone(),
        ));
        attrs.push(KeyValue::new(semconv::MESSAGING_OPERATION_NAME, operation));
        attrs.push(KeyValue::new(
            semconv::MESSAGING_OPERATION_TYPE,
            operation_type,
        ));
        attrs.push(KeyValue::new(
            semconv::MESSAGING_MESSAGE_ID,
            envelope.id.to_shared(),
        ));
        attrs.push(KeyValue::new(
            semconv::MESSAGING_MESSAGE_BODY_SIZE,
            i64::try_from(envelope.payload.len()).unwrap_or(i64::MAX),
        ));
        if let Some(key) = &envelope.key {
            attrs.push(KeyValue::new(MESSAGE_KEY, key.clone()));
        }
        attrs
    }
}

/// Wall-clock time derived from the monotonic clock, so one clock read serves both the queue
/// time (against a publisher's wall clock) and the processing duration. Re-anchored every
/// minute so it never drifts far from the system clock.
pub(crate) struct WallClock {
    anchor: std::sync::Mutex<(Instant, SystemTime)>,
}

impl WallClock {
    pub(crate) fn new() -> Self {
        Self {
            anchor: std::sync::Mutex::new((Instant::now(), SystemTime::now())),
        }
    }

    /// The wall-clock time at `at`.
    pub(crate) fn system_at(&self, at: Instant) -> SystemTime {
        let Ok(mut anchor) = self.anchor.lock() else {
            return SystemTime::now();
        };
        if at.saturating_duration_since(anchor.0) > Duration::from_secs(60) {
            *anchor = (Instant::now(), SystemTime::now());
        }
        match at.checked_duration_since(anchor.0) {
            Some(ahead) => anchor.1 + ahead,
            None => anchor.1 - anchor.0.duration_since(at),
        }
    }
}

/// Time from `published_at` to `now`; zero when clocks disagree.
pub(crate) fn queue_time(published_at: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(published_at).unwrap_or_default()
}

/// The tracer the bus uses unless told otherwise.
pub(crate) fn default_tracer() -> BoxedTracer {
    global::tracer("pigeon-bus")
}

/// The meter the bus uses unless told otherwise.
pub(crate) fn default_meter() -> Meter {
    global::meter("pigeon-bus")
}

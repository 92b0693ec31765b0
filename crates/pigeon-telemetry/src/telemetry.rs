//! The [`Telemetry`] handle: builds the tracer provider, span sink, exporter and metrics from a
//! [`TelemetryConfig`], and — in [`init`] only — installs them as the process globals.
//!
//! Why two paths: a binary wants one call that wires everything globally; tests (many per
//! binary) want the same components without fighting over the one global `tracing`
//! subscriber. [`TelemetryConfig::build_local`] touches no global state.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::resource::TelemetryResourceDetector;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, filter};

use crate::config::TelemetryConfig;
use crate::consumer::{CollectingConsumer, SpanConsumer};
use crate::drops::{DropCounters, SpanDrops};
use crate::error::{FlushError, MetricsError, TelemetryError};
use crate::export::{self, ExportQueue};
use crate::metrics::Metrics;
use crate::sink::{SinkOptions, SpanSink};

/// Name of the tracer the `tracing` bridge uses.
const TRACER_NAME: &str = "pigeon";

/// Handle to running telemetry. Cheap to clone; all clones share the same components.
///
/// Dropping the handles does not stop export while a global provider still refers to it: call
/// [`Telemetry::shutdown`] at the end of `main` to deliver what is queued.
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

struct Inner {
    tracer_provider: SdkTracerProvider,
    sink: Option<SpanSink>,
    metrics: Metrics,
    drops: Arc<DropCounters>,
    resource: Resource,
    config: TelemetryConfig,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("config", &self.inner.config)
            .field("drops", &self.drops())
            .finish()
    }
}

/// Builds telemetry from `config` and installs it for the whole process: the global `tracing`
/// subscriber (log lines with trace ids, filtered by `RUST_LOG`, plus the OpenTelemetry layer),
/// the global tracer and meter providers, and the W3C TraceContext + Baggage propagator.
///
/// Call once, early in `main`, inside or outside a Tokio runtime. A second call fails with
/// [`TelemetryError::SubscriberAlreadySet`]; tests use [`TelemetryConfig::build_local`].
pub fn init(config: TelemetryConfig) -> Result<Telemetry, TelemetryError> {
    if tracing::dispatcher::has_been_set() {
        return Err(TelemetryError::SubscriberAlreadySet(
            "init was called before, or another subscriber was installed".into(),
        ));
    }
    let filter = EnvFilter::try_new(&config.log_filter).map_err(|e| TelemetryError::LogFilter {
        filter: config.log_filter.clone(),
        reason: e.to_string(),
    })?;
    let telemetry = config.build_local()?;
    let otel = (!telemetry.inner.config.sdk_disabled).then(|| telemetry.otel_layer());
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(crate::logs::log_layer(
            telemetry.inner.config.log_format,
            std::io::stderr,
        ))
        .with(otel);
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|e| TelemetryError::SubscriberAlreadySet(e.to_string()))?;

    opentelemetry::global::set_tracer_provider(telemetry.inner.tracer_provider.clone());
    opentelemetry::global::set_meter_provider(telemetry.inner.metrics.provider.clone());
    opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
    Ok(telemetry)
}

impl TelemetryConfig {
    /// Builds every component without touching global state: no global subscriber, tracer or
    /// meter provider, or propagator. This is what tests use, any number of times per process.
    /// OTLP export still starts if the configuration asks for it.
    pub fn build_local(self) -> Result<Telemetry, TelemetryError> {
        let resource = self.resource();
        let drops = Arc::new(DropCounters::default());

        let (tracer_provider, sink) = if self.sdk_disabled {
            let provider = SdkTracerProvider::builder()
                .with_resource(resource.clone())
                .with_sampler(Sampler::AlwaysOff)
                .build();
            (provider, None)
        } else {
            let export = match self.otlp_target() {
                Some(target) => {
                    let queue = Arc::new(ExportQueue::new(
                        self.export_queue_capacity,
                        self.export_batch_size,
                        Arc::clone(&drops),
                    ));
                    export::spawn(
                        &target,
                        self.otlp_timeout,
                        resource.clone(),
                        Arc::clone(&queue),
                    )?;
                    Some(queue)
                }
                None => None,
            };
            let sink = SpanSink::start_with(
                SinkOptions {
                    capacity: self.sink_capacity,
                    flush_timeout: self.flush_timeout,
                },
                Arc::clone(&drops),
                export.clone(),
            )
            .inspect_err(|_| {
                // Let the exporter thread finish instead of waiting forever.
                if let Some(queue) = &export {
                    queue.close();
                }
            })?;
            for consumer in &self.consumers {
                sink.add_consumer(Arc::clone(consumer));
            }
            let provider = SdkTracerProvider::builder()
                .with_resource(resource.clone())
                .with_sampler(self.sampler.to_sampler())
                .with_span_processor(sink.processor())
                .build();
            (provider, Some(sink))
        };

        let metrics = Metrics::new(resource.clone(), Arc::clone(&drops))?;
        Ok(Telemetry {
            inner: Arc::new(Inner {
                tracer_provider,
                sink,
                metrics,
                drops,
                resource,
                config: self,
            }),
        })
    }

    fn resource(&self) -> Resource {
        let mut builder = Resource::builder_empty()
            .with_detector(Box::new(TelemetryResourceDetector))
            .with_attributes(
                self.resource_attributes
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
            );
        // OTEL_SERVICE_NAME (or the builder) wins over service.name in the attributes.
        let named_in_attributes = self
            .resource_attributes
            .iter()
            .any(|(k, _)| k == "service.name");
        if self.service_name.is_some() || !named_in_attributes {
            builder = builder.with_service_name(self.service_name().to_owned());
        }
        builder.build()
    }
}

impl Telemetry {
    /// A configuration with defaults only (the environment is not read), to chain setters on
    /// and finish with [`TelemetryConfig::build_local`] or [`init`].
    pub fn builder() -> TelemetryConfig {
        TelemetryConfig::default()
    }

    /// Local telemetry with a [`CollectingConsumer`] keeping up to `capacity` spans: the usual
    /// start of a test that asserts on spans.
    pub fn collecting(
        capacity: usize,
    ) -> Result<(Telemetry, Arc<CollectingConsumer>), TelemetryError> {
        let collector = Arc::new(CollectingConsumer::new(capacity));
        let telemetry = Self::builder()
            .with_consumer(Arc::clone(&collector) as Arc<dyn SpanConsumer>)
            .build_local()?;
        Ok((telemetry, collector))
    }

    /// The tracer provider feeding the span sink.
    pub fn tracer_provider(&self) -> &SdkTracerProvider {
        &self.inner.tracer_provider
    }

    /// A tracer from [`Telemetry::tracer_provider`].
    pub fn tracer(&self, name: &'static str) -> SdkTracer {
        self.inner.tracer_provider.tracer(name)
    }

    /// The meter provider behind `/metrics`.
    pub fn meter_provider(&self) -> &SdkMeterProvider {
        &self.inner.metrics.provider
    }

    /// The resource (`service.name`, `OTEL_RESOURCE_ATTRIBUTES`, SDK attributes) of all spans
    /// and metrics.
    pub fn resource(&self) -> &Resource {
        &self.inner.resource
    }

    /// A `tracing` layer turning `tracing` spans into OpenTelemetry spans of this provider.
    /// Spans from the OTLP transport's own crates (h2, hyper, tonic, tower, reqwest) are left
    /// out, so export never traces itself.
    pub fn otel_layer<S>(
        &self,
    ) -> filter::Filtered<OpenTelemetryLayer<S, SdkTracer>, filter::FilterFn, S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.tracer(TRACER_NAME))
            .with_filter(filter::filter_fn(|meta| {
                !is_transport_target(meta.target())
            }))
    }

    /// The span sink, unless tracing is disabled (`OTEL_SDK_DISABLED`).
    pub fn sink(&self) -> Option<&SpanSink> {
        self.inner.sink.as_ref()
    }

    /// Registers an in-process consumer; it receives every span that ends from now on.
    /// Ignored when tracing is disabled.
    pub fn add_consumer(&self, consumer: Arc<dyn SpanConsumer>) {
        if let Some(sink) = &self.inner.sink {
            sink.add_consumer(consumer);
        }
    }

    /// Spans dropped so far, all reasons together (`pigeon_spans_dropped_total`).
    pub fn spans_dropped(&self) -> u64 {
        self.drops().total()
    }

    /// Spans dropped so far, by reason.
    pub fn drops(&self) -> SpanDrops {
        self.inner.drops.snapshot()
    }

    /// Waits until every span ended before this call has reached every consumer and, with OTLP
    /// on, has been sent (or has failed). Blocks the caller for at most the flush timeout; the
    /// work happens on the sink's and exporter's own threads, so it cannot deadlock an async
    /// caller (see [`Telemetry::flush_async`] to keep the worker free).
    pub fn force_flush(&self) -> Result<(), FlushError> {
        match &self.inner.sink {
            Some(sink) => sink.force_flush(),
            None => Ok(()),
        }
    }

    /// [`Telemetry::force_flush`] on Tokio's blocking pool, for async callers. Needs a Tokio
    /// runtime.
    pub async fn flush_async(&self) -> Result<(), FlushError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.force_flush())
            .await
            .unwrap_or(Err(FlushError::ShutDown))
    }

    /// Delivers queued spans to consumers and the exporter, then stops the sink and exporter
    /// threads, waiting at most the flush timeout. Like [`Telemetry::force_flush`] it blocks
    /// the caller without depending on its runtime. Later spans are discarded.
    pub fn shutdown(&self) -> Result<(), FlushError> {
        self.shutdown_with_timeout(self.inner.config.flush_timeout)
    }

    /// [`Telemetry::shutdown`] with an explicit time limit.
    pub fn shutdown_with_timeout(&self, timeout: Duration) -> Result<(), FlushError> {
        let result = match &self.inner.sink {
            Some(sink) => sink.shutdown_with_timeout(timeout),
            None => Ok(()),
        };
        // The sink is already stopped, so these return at once; they mark the providers shut
        // down so spans and metrics started later become no-ops.
        let _ = self.inner.tracer_provider.shutdown();
        let _ = self.inner.metrics.provider.shutdown();
        result
    }

    /// A router serving `GET /metrics`; same as [`crate::metrics_router`].
    pub fn metrics_router(&self) -> axum::Router {
        crate::metrics::metrics_router(self)
    }

    /// All metrics in Prometheus text format, as `/metrics` serves them.
    pub fn render_metrics(&self) -> Result<String, MetricsError> {
        self.inner.metrics.render()
    }
}

/// Crates whose spans belong to the OTLP transport itself.
fn is_transport_target(target: &str) -> bool {
    [
        "h2",
        "hyper",
        "hyper_util",
        "tonic",
        "tower",
        "reqwest",
        "opentelemetry",
    ]
    .iter()
    .any(|prefix| {
        target
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

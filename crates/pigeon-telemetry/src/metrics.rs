//! Metrics: an OpenTelemetry meter provider read by a Prometheus registry, served at `/metrics`.
//!
//! Why pull rather than OTLP push for metrics: every operator can scrape Prometheus text, it
//! needs no collector, and a scrape costs nothing when nobody looks. Library code records
//! through `opentelemetry::global::meter(…)`; [`crate::init`] makes that global provider this
//! one. The span sink's drop counters are published here as `pigeon_spans_dropped_total`.

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{MeterProvider as _, ObservableCounter};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder as _, TextEncoder};

use crate::drops::DropCounters;
use crate::error::{MetricsError, TelemetryError};
use crate::telemetry::Telemetry;

/// The meter provider, the registry it writes to, and the instruments this crate owns.
pub(crate) struct Metrics {
    pub(crate) provider: SdkMeterProvider,
    pub(crate) registry: prometheus::Registry,
    _spans_dropped: ObservableCounter<u64>,
}

impl Metrics {
    pub(crate) fn new(
        resource: Resource,
        drops: Arc<DropCounters>,
    ) -> Result<Self, TelemetryError> {
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()
            .map_err(|e| TelemetryError::Metrics(e.to_string()))?;
        let provider = SdkMeterProvider::builder()
            .with_reader(exporter)
            .with_resource(resource)
            .build();
        let spans_dropped = provider
            .meter("pigeon-telemetry")
            .u64_observable_counter("pigeon_spans_dropped")
            .with_description(
                "Spans dropped by a full telemetry queue or a failed export, by reason",
            )
            .with_callback(move |observer| {
                let d = drops.snapshot();
                observer.observe(d.sink_full, &[KeyValue::new("reason", "sink_full")]);
                observer.observe(
                    d.export_queue_full,
                    &[KeyValue::new("reason", "export_queue_full")],
                );
                observer.observe(d.export_failed, &[KeyValue::new("reason", "export_failed")]);
            })
            .build();
        Ok(Self {
            provider,
            registry,
            _spans_dropped: spans_dropped,
        })
    }

    /// The registry's current state in Prometheus text format.
    pub(crate) fn render(&self) -> Result<String, MetricsError> {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .map_err(|e| MetricsError(e.to_string()))?;
        String::from_utf8(out).map_err(|e| MetricsError(e.to_string()))
    }
}

/// A router serving `GET /metrics` in Prometheus text format; mount or merge it into any app.
///
/// ```no_run
/// # fn f(telemetry: &pigeon_telemetry::Telemetry) {
/// let app = axum::Router::new().merge(pigeon_telemetry::metrics_router(telemetry));
/// # }
/// ```
pub fn metrics_router(telemetry: &Telemetry) -> Router {
    let telemetry = telemetry.clone();
    Router::new().route(
        "/metrics",
        get(move || {
            let telemetry = telemetry.clone();
            async move { metrics_response(&telemetry) }
        }),
    )
}

fn metrics_response(telemetry: &Telemetry) -> Response {
    match telemetry.render_metrics() {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "encoding metrics");
            (StatusCode::INTERNAL_SERVER_ERROR, "metrics encoding failed").into_response()
        }
    }
}

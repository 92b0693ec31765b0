//! `pigeon demo orders`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use example_orders::{
    Fail, Knobs, PipelineConfig, Schedule, Service, ServiceWiring, Slow, Wiring, run_all,
};
use opentelemetry::metrics::MeterProvider as _;
use pigeon_bus::{Backend, Bus, MemoryBackend, MemoryConfig};
use pigeon_journey::{JourneyOptions, JourneyStore, TimeRange, TraceQuery};
use pigeon_telemetry::Telemetry;
use tokio_util::sync::CancellationToken;

use crate::trace::waterfall;

const SERVICES: [Service; 5] = [
    Service::WebsiteOrdering,
    Service::OnsiteOrdering,
    Service::DirectKitchenOrdering,
    Service::OrderValidation,
    Service::KitchenService,
];

/// Options of `pigeon demo orders`.
#[derive(Debug, Args)]
pub(crate) struct OrdersDemoArgs {
    /// How long the restaurant is open.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Time between two online orders (on-site and direct orders follow the seed's ratios).
    #[arg(long, default_value = "300ms", value_parser = example_orders::parse_duration)]
    every: Duration,
    /// Make a step slow, e.g. `inventory=200ms` (steps: place, address, name, inventory, cook).
    #[arg(long)]
    slow: Vec<Slow>,
    /// Make a step fail sometimes, e.g. `address=20%`.
    #[arg(long)]
    fail: Vec<Fail>,
}

/// The five services on one in-process bus, each with its own telemetry (so its own
/// `service.name`) sending every span to `journeys`. Shared by this demo and `pigeon bench
/// pipeline`.
pub(crate) struct TracedPipeline {
    backend: Arc<dyn Backend>,
    telemetry: Vec<(Service, Telemetry)>,
}

impl TracedPipeline {
    pub(crate) fn new(journeys: &JourneyStore, bus: MemoryConfig) -> anyhow::Result<Self> {
        let backend: Arc<dyn Backend> =
            Arc::new(MemoryBackend::open(bus).context("opening the in-process bus")?);
        let mut telemetry = Vec::new();
        for service in SERVICES {
            telemetry.push((service, super::service_telemetry(service.name(), journeys)?));
        }
        Ok(Self { backend, telemetry })
    }

    /// Each service's bus (over the shared backend) and tracer.
    pub(crate) fn wiring(&self) -> Wiring {
        let (backend, telemetry) = (self.backend.clone(), self.telemetry.clone());
        Wiring::per_service(move |service| {
            let bus = Bus::builder_shared(backend.clone())
                .propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
            match telemetry.iter().find(|(s, _)| *s == service) {
                Some((_, t)) => ServiceWiring::with_tracer(
                    bus.tracer(t.tracer("pigeon-bus"))
                        .meter(t.meter_provider().meter("pigeon-bus"))
                        .build(),
                    t.tracer(example_orders::TRACER_NAME),
                ),
                None => ServiceWiring::new(bus.build()),
            }
        })
    }

    /// Spans the services' telemetry dropped on the way to the journey store.
    pub(crate) fn spans_dropped(&self) -> u64 {
        self.telemetry.iter().map(|(_, t)| t.drops().total()).sum()
    }

    /// Flushes every span into the journey store and shuts the bus down.
    pub(crate) async fn finish(&self) -> anyhow::Result<()> {
        for (_, t) in &self.telemetry {
            t.flush_async().await?;
        }
        self.backend.shutdown().await;
        Ok(())
    }
}

pub(crate) async fn run(args: OrdersDemoArgs) -> anyhow::Result<()> {
    let journeys = JourneyStore::in_memory();
    let pipeline = TracedPipeline::new(&journeys, MemoryConfig::default())?;
    let wiring = pipeline.wiring();
    let mut knobs = Knobs::default();
    for slow in args.slow {
        knobs = knobs.with_slow(slow);
    }
    for fail in args.fail {
        knobs = knobs.with_fail(fail);
    }
    let config = PipelineConfig {
        knobs,
        website: Schedule::every(args.every),
        onsite: Schedule::every(args.every * 4 / 3),
        direct: Schedule::every(args.every * 7 / 3),
        ..PipelineConfig::default()
    };
    eprintln!(
        "demo orders: the restaurant is open for {} s…",
        args.seconds
    );
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let seconds = args.seconds;
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.cancel();
    });
    run_all(wiring, config, shutdown).await?;
    pipeline.finish().await?;
    journeys.drain()?;
    report(&journeys);
    Ok(())
}

fn report(journeys: &JourneyStore) {
    let mut latency = journeys.latency(TimeRange::default());
    latency.sort_by(|a, b| b.p99_ms.total_cmp(&a.p99_ms));
    println!("\nWhere the time goes (p99 first):");
    println!(
        "{:<26} {:<28} {:>7} {:>7} {:>9} {:>9}",
        "service", "operation", "count", "errors", "p50 ms", "p99 ms"
    );
    for row in latency.iter().take(15) {
        println!(
            "{:<26} {:<28} {:>7} {:>7} {:>9.2} {:>9.2}",
            row.service, row.span_name, row.count, row.errors, row.p50_ms, row.p99_ms
        );
    }
    let slowest = journeys.search(&TraceQuery {
        service: Some("kitchen-service".into()),
        limit: 1,
        ..TraceQuery::default()
    });
    if let Some(order) = slowest.first().and_then(|t| {
        journeys
            .trace(t.trace_id)
            .into_iter()
            .find_map(|s| s.attribute("order.id").map(|v| v.to_text().into_owned()))
    }) {
        println!("\nOne order, end to end (`pigeon trace {order}` shows the same from a server):");
        for line in waterfall(&journeys.journey(&order, &JourneyOptions::default()), 48) {
            println!("{line}");
        }
    }
    let errors = journeys.search(&TraceQuery {
        errors_only: true,
        limit: 100,
        ..TraceQuery::default()
    });
    println!(
        "\n{} traces with an error (rejected or failed orders).",
        errors.len()
    );
}

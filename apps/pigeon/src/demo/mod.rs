//! `pigeon demo`: traffic through a system, then where to look.
//!
//! * `orders`: the restaurant order pipeline (seed 001) in this process, every service with its
//!   own `service.name`, every span into an embedded journey store; at the end, the latency of
//!   each operation (find the bottleneck) and one order's journey as a waterfall.
//! * `marker`: seed 002's marker pipeline in this process, with its page to click, the OTLP
//!   receiver for the browser's spans and the journey UI, until Ctrl-C.

mod marker;
mod orders;

pub(crate) use orders::TracedPipeline;

use clap::Subcommand;

/// Which demo.
#[derive(Debug, Subcommand)]
pub(crate) enum DemoCommand {
    /// The restaurant order pipeline: five services on the in-process bus, traced end to end.
    Orders(orders::OrdersDemoArgs),
    /// The marker pipeline: a page starts the trace in your browser; processor and persister
    /// continue it; every mark lands once in messages.jsonl. Open the printed URL.
    Marker(marker::MarkerDemoArgs),
}

pub(crate) async fn run(command: DemoCommand) -> anyhow::Result<()> {
    match command {
        DemoCommand::Orders(args) => orders::run(args).await,
        DemoCommand::Marker(args) => marker::run(args).await,
    }
}

/// Telemetry of one service of a demo: its own `service.name`, every span sampled and sent to
/// `journeys`, nothing installed globally (several services share the process).
pub(crate) fn service_telemetry(
    service: &str,
    journeys: &pigeon_journey::JourneyStore,
) -> anyhow::Result<pigeon_telemetry::Telemetry> {
    use anyhow::Context as _;
    pigeon_telemetry::Telemetry::builder()
        .with_service_name(service)
        .with_sampler(pigeon_telemetry::SamplerConfig::AlwaysOn)
        .with_consumer(std::sync::Arc::new(pigeon_telemetry::JourneyConsumer::new(
            journeys.ingestor(),
        )))
        .build_local()
        .with_context(|| format!("telemetry of {service}"))
}

//! `orders`: runs one service of the ITuna order pipeline, or all five; see `orders --help`.
//!
//! Thin by design: parse flags, install telemetry, connect the bus, call the library's
//! `run_*` with a cancellation token, then flush.

mod cli;

use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser as _;
use example_orders::{
    PipelineConfig, Service, ServiceWiring, Wiring, run_all, run_direct_kitchen_ordering,
    run_kitchen_service, run_onsite_ordering, run_order_validation, run_website_ordering,
};
use opentelemetry::metrics::MeterProvider as _;
use pigeon_bus::{Backend, Bus, MemoryBackend};
use pigeon_bus_nats::{NatsBackend, NatsConfig};
use pigeon_telemetry::{Telemetry, TelemetryConfig};
use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = cli.options.pipeline_config().context("invalid knobs")?;
    let process_name = match service_of(cli.command) {
        Some(service) => service.name(),
        None => "orders",
    };
    let telemetry = pigeon_telemetry::init(telemetry_config(process_name, true)?)
        .context("starting telemetry")?;

    let backend = connect(&cli.options.bus, cli.command).await?;
    let shutdown = CancellationToken::new();
    spawn_stop_signals(shutdown.clone(), cli.options.run_for);

    let mut service_telemetry = Vec::new();
    let result = match service_of(cli.command) {
        Some(service) => {
            let wiring = ServiceWiring::new(Bus::builder_shared(Arc::clone(&backend)).build());
            run_one(service, wiring, config, shutdown.clone()).await
        }
        None => {
            // One process, five services: each gets its own tracer provider, so its spans carry
            // its own service.name, and a bus over the shared backend using that provider.
            for service in Service::ALL {
                let telemetry = telemetry_config(service.name(), false)?
                    .build_local()
                    .with_context(|| format!("starting telemetry of {service}"))?;
                service_telemetry.push((service, telemetry));
            }
            let wiring = per_service_wiring(&backend, &service_telemetry);
            run_all(wiring, config, shutdown.clone())
                .await
                .map_err(Into::into)
        }
    };
    shutdown.cancel();
    backend.shutdown().await;
    for (service, telemetry) in &service_telemetry {
        if let Err(error) = telemetry.shutdown() {
            tracing::warn!(%error, "flushing the telemetry of {service}");
        }
    }
    if let Err(error) = telemetry.shutdown() {
        eprintln!("flushing telemetry: {error}");
    }
    result
}

/// The service a subcommand runs, `None` for `all`.
fn service_of(command: Command) -> Option<Service> {
    match command {
        Command::WebsiteOrdering => Some(Service::WebsiteOrdering),
        Command::OnsiteOrdering => Some(Service::OnsiteOrdering),
        Command::DirectKitchenOrdering => Some(Service::DirectKitchenOrdering),
        Command::OrderValidation => Some(Service::OrderValidation),
        Command::KitchenService => Some(Service::KitchenService),
        Command::All => None,
    }
}

/// `OTEL_*` from the environment, with `service.name` set to `service`. When `env_wins`, an
/// OTEL_SERVICE_NAME the operator set is kept instead (one process, one name: their choice).
/// The five providers of `all` always get their service's name, or they could not be told apart.
fn telemetry_config(service: &str, env_wins: bool) -> anyhow::Result<TelemetryConfig> {
    let config = TelemetryConfig::from_env().context("reading OTEL_* variables")?;
    let named_by_env = std::env::var_os("OTEL_SERVICE_NAME").is_some_and(|v| !v.is_empty());
    Ok(if env_wins && named_by_env {
        config
    } else {
        config.with_service_name(service)
    })
}

async fn connect(url: &str, command: Command) -> anyhow::Result<Arc<dyn Backend>> {
    if url == "memory" {
        if command != Command::All {
            tracing::warn!("the in-process bus reaches no other process; use it with `all`");
        }
        return Ok(Arc::new(MemoryBackend::new()));
    }
    let backend = NatsBackend::connect(url, NatsConfig::new())
        .await
        .with_context(|| format!("connecting to NATS at {url}"))?;
    tracing::info!(%url, "connected to NATS JetStream");
    Ok(Arc::new(backend))
}

/// Each service's bus (over the shared backend) and tracer come from its own telemetry.
fn per_service_wiring(backend: &Arc<dyn Backend>, telemetry: &[(Service, Telemetry)]) -> Wiring {
    let backend = Arc::clone(backend);
    let telemetry = telemetry.to_vec();
    Wiring::per_service(move |service| {
        let bus = Bus::builder_shared(Arc::clone(&backend));
        match telemetry.iter().find(|(s, _)| *s == service) {
            Some((_, telemetry)) => {
                let bus = bus
                    .tracer(telemetry.tracer("pigeon-bus"))
                    .meter(telemetry.meter_provider().meter("pigeon-bus"))
                    .build();
                ServiceWiring::with_tracer(bus, telemetry.tracer(example_orders::TRACER_NAME))
            }
            // Not reached (every service has telemetry); the global provider is the fallback.
            None => ServiceWiring::new(bus.build()),
        }
    })
}

async fn run_one(
    service: Service,
    wiring: ServiceWiring,
    config: PipelineConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    match service {
        Service::WebsiteOrdering => {
            run_website_ordering(wiring, config, shutdown).await;
        }
        Service::OnsiteOrdering => {
            run_onsite_ordering(wiring, config, shutdown).await;
        }
        Service::DirectKitchenOrdering => {
            run_direct_kitchen_ordering(wiring, config, shutdown).await;
        }
        Service::OrderValidation => run_order_validation(wiring, config, shutdown).await?,
        Service::KitchenService => run_kitchen_service(wiring, config, shutdown).await?,
    }
    Ok(())
}

/// Cancels `shutdown` on Ctrl-C, SIGTERM, or after `run_for`.
fn spawn_stop_signals(shutdown: CancellationToken, run_for: Option<std::time::Duration>) {
    tokio::spawn(async move {
        let run_for = async {
            match run_for {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = pigeon_telemetry::shutdown_signal() => {}
            () = run_for => tracing::info!("--run-for elapsed: shutting down"),
        }
        shutdown.cancel();
    });
}

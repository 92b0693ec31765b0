//! `pigeon serve`: the main job on embedded defaults.
//!
//! * `config`: flags, env, file, defaults.
//! * `cluster`: the store and session directory shared with other nodes (`--store
//!   postgres://…`, `--bus nats://…`, `--cluster`, `--node-id`).
//! * `http`: `/healthz` and `/readyz`. Merged beside them: the journey API and web UI at `/ui`
//!   (`pigeon-journey-web`), `/metrics`, the DM API (`pigeon-dm`) over the SQLite store in the
//!   data dir, and the OTLP/HTTP receiver (`POST /v1/traces`, `pigeon-otlp`) so other
//!   services' spans join the journeys.
//!
//! Every span the process makes also goes to the embedded journey store (persisted in the data
//! dir), so "where is message X" has an answer without any external collector.
//!
//! Shutdown order: stop accepting (axum's graceful shutdown lets requests finish), shut the
//! bus down (the durable log syncs), then flush telemetry — so nothing accepted is lost and the
//! last spans still leave.

mod cluster;
mod config;
mod http;

use std::sync::Arc;

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use pigeon_bus::{Backend, Bus, MemoryBackend, MemoryConfig};
use pigeon_dm::{DeliveryRouter, DmState, SessionDirectory};
use pigeon_journey::{JourneyStore, StoreConfig};
use pigeon_push::{PushConfig, Pusher, VapidKeys};
use pigeon_telemetry::JourneyConsumer;
use tokio::net::TcpListener;

pub(crate) use config::ServeArgs;
use config::{BusTarget, ServeConfig};

/// How long shutdown waits for pushes under way.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    let telemetry = pigeon_telemetry::init(telemetry_config()?).context("setting up telemetry")?;
    let journeys =
        JourneyStore::open(StoreConfig::default().with_data_dir(config.data_dir.join("journey")))
            .context("opening the journey store")?;
    let _drainer = journeys
        .spawn_drainer(pigeon_journey::DEFAULT_DRAIN_EVERY)
        .context("starting the journey store's drainer")?;
    telemetry.add_consumer(Arc::new(JourneyConsumer::new(journeys.ingestor())));
    let (backend, nats) = open_bus(&config).await?;
    let bus = Bus::builder_shared(backend.clone()).build();
    let (directory, nats_directory) = cluster::open_directory(&config, nats).await?;
    let dm = open_dm(&config, bus.clone(), directory).await?;
    let delivery = DeliveryRouter::start(&dm)
        .await
        .context("starting the delivery router")?;
    // The in-process bus keeps delivery notices in memory only; NATS keeps them.
    if matches!(config.bus, BusTarget::Memory) {
        let owed = delivery.reannounce_recent(&dm).await;
        if owed > 0 {
            tracing::info!(
                messages = owed,
                "re-announced recent messages still owed to devices (their notices did not survive the last stop)"
            );
        }
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    tracing::info!(
        listen = %listener.local_addr()?,
        data_dir = %config.data_dir.display(),
        bus = ?config.bus,
        "pigeon serving"
    );
    let otlp = pigeon_otlp::router(journeys.ingestor());
    let app = http::router(bus.clone())
        .merge(pigeon_journey_web::router(journeys))
        .merge(otlp)
        .merge(pigeon_dm::router(dm.clone()))
        .merge(telemetry.metrics_router());
    // Frames and answers are written whole (a session batches its own writes), so a small
    // write must not wait for the peer's ACK of the previous one (Nagle).
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "TCP_NODELAY not set");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(pigeon_telemetry::shutdown_signal())
        .await
        .context("serving HTTP")?;
    tracing::info!("shutting down");
    delivery.shutdown().await;
    if let Some(directory) = nats_directory {
        directory.shutdown().await;
    }
    dm.drain(DRAIN_TIMEOUT).await;
    bus.shutdown().await;
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await?
        .context("flushing telemetry")?;
    Ok(())
}

/// `OTEL_*` from the environment; the service is called `pigeon` unless OTEL_SERVICE_NAME (or
/// `service.name` in OTEL_RESOURCE_ATTRIBUTES) says otherwise, rather than the SDK's
/// `unknown_service`.
fn telemetry_config() -> anyhow::Result<pigeon_telemetry::TelemetryConfig> {
    let config = pigeon_telemetry::TelemetryConfig::from_env()?;
    let named = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| v.contains("service.name="));
    Ok(if named {
        config
    } else {
        config.with_service_name("pigeon")
    })
}

/// The DM API over its store (SQLite in the data dir by default), with the VAPID key pair kept
/// in the data dir (made at first start).
async fn open_dm(
    config: &ServeConfig,
    bus: Bus,
    directory: Arc<dyn SessionDirectory>,
) -> anyhow::Result<DmState> {
    tokio::fs::create_dir_all(&config.data_dir)
        .await
        .with_context(|| format!("creating the data dir {}", config.data_dir.display()))?;
    let store = cluster::open_store(config).await?;
    let vapid_path = config.vapid_key.clone();
    let vapid = tokio::task::spawn_blocking(move || VapidKeys::load_or_create(vapid_path))
        .await?
        .context("loading the VAPID key pair")?;
    let pusher = Pusher::new(PushConfig::from_env()?, vapid).context("setting up push")?;
    Ok(DmState::with_directory(
        store,
        bus,
        config.dm.clone(),
        Some(pusher),
        directory,
    ))
}

/// The bus backend, and the NATS connection when it is NATS (the session directory uses it
/// too). A cluster name prefixes the NATS stream names.
async fn open_bus(
    config: &ServeConfig,
) -> anyhow::Result<(Arc<dyn Backend>, Option<async_nats::Client>)> {
    Ok(match &config.bus {
        BusTarget::Memory => {
            let memory = MemoryConfig {
                data_dir: Some(config.data_dir.join("bus")),
                ..MemoryConfig::default()
            };
            let backend = MemoryBackend::open(memory).context("opening the durable bus log")?;
            (Arc::new(backend), None)
        }
        BusTarget::Nats(url) => {
            let mut nats = pigeon_bus_nats::NatsConfig::new();
            if !config.cluster.is_empty() {
                nats = nats.stream_prefix(format!("PIGEON_{}_", config.cluster));
            }
            let backend = pigeon_bus_nats::NatsBackend::connect(url, nats)
                .await
                .with_context(|| format!("connecting to NATS at {url}"))?;
            let client = backend.client().clone();
            (Arc::new(backend), Some(client))
        }
    })
}

//! `pigeon journey`: the journey store alone, as the collector target of other services.
//!
//! Services in any language export their spans here over OTLP/HTTP (it listens on the standard
//! OTLP/HTTP port, 4318, so `OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318` is all they
//! need), and people look at the journeys in the web UI at `/ui/`, over the JSON API, or with
//! `pigeon trace <id> --server …`. With a data dir the store keeps its history across restarts.
//! No bus, no DM server: for traces of systems that are not Pigeon, or to run the store on a
//! machine of its own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::routing::get;
use clap::Args;
use pigeon_journey::{JourneyStore, StoreConfig};
use pigeon_telemetry::JourneyConsumer;

const EXAMPLES: &str = "\
Examples:
  pigeon journey                                   # OTLP/HTTP in and the UI on 127.0.0.1:4318
  OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \\
  OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf  your-service
  pigeon trace <message, order or trace id> --server http://127.0.0.1:4318";

/// Options of `pigeon journey`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub(crate) struct JourneyArgs {
    /// Address of the OTLP/HTTP receiver (`POST /v1/traces`), the web UI (`/ui/`) and the
    /// journey API (`/api/v1/…`).
    #[arg(long, env = "PIGEON_JOURNEY_LISTEN", default_value = "127.0.0.1:4318")]
    listen: SocketAddr,
    /// Keep the store's history here across restarts; without it, memory only.
    #[arg(long, env = "PIGEON_JOURNEY_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

pub(crate) async fn run(args: JourneyArgs) -> anyhow::Result<()> {
    // This process's own spans (the receiver's) go to the store too, so it can be inspected
    // like any other service.
    let telemetry = pigeon_telemetry::init(
        pigeon_telemetry::TelemetryConfig::from_env()?.with_service_name("pigeon-journey"),
    )
    .context("setting up telemetry")?;
    let journeys = match &args.data_dir {
        Some(dir) => JourneyStore::open(StoreConfig::default().with_data_dir(dir.clone()))
            .with_context(|| format!("opening the journey store in {}", dir.display()))?,
        None => JourneyStore::in_memory(),
    };
    let _drainer = journeys
        .spawn_drainer(pigeon_journey::DEFAULT_DRAIN_EVERY)
        .context("starting the journey store's drainer")?;
    telemetry.add_consumer(Arc::new(JourneyConsumer::new(journeys.ingestor())));
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(pigeon_otlp::router(journeys.ingestor()))
        .merge(pigeon_journey_web::router(journeys.clone()))
        .merge(telemetry.metrics_router());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        listen = %addr,
        data_dir = ?args.data_dir,
        "journey store serving: OTLP/HTTP at http://{addr}/v1/traces, the UI at http://{addr}/ui/"
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(pigeon_telemetry::shutdown_signal())
        .await
        .context("serving HTTP")?;
    journeys.drain()?;
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await?
        .context("flushing telemetry")?;
    Ok(())
}

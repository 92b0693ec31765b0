//! `marker`: runs one part of seed 002's marker pipeline as its own process; see `marker --help`.
//!
//! Thin by design: parse flags, install telemetry under the part's `service.name`, connect the
//! bus, start the part, wait for Ctrl-C or SIGTERM, drain, flush. `pigeon demo marker` runs all
//! three in one process with the journey store and its UI.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use example_marker::{JsonlFile, Topics, WebConfig, services};
use pigeon_bus::{Bus, ContextCarrier};
use pigeon_bus_nats::{NatsBackend, NatsConfig};
use pigeon_telemetry::TelemetryConfig;

const EXAMPLES: &str = "\
Examples (one terminal each; NATS JetStream on 127.0.0.1:4222, `pigeon serve` on :7878):
  OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:7878 marker persister --file messages.jsonl
  OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:7878 marker processor
  OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:7878 marker web --listen 127.0.0.1:8080 \\
      --otlp-endpoint http://127.0.0.1:7878/v1/traces --journey-ui http://127.0.0.1:7878/ui/
  then open http://127.0.0.1:8080/marker/ and follow a mark with `pigeon trace <mark id>`.

The seed's payload technique (no headers): add `--carrier correlation-id` to every process.
All three in one process, with the journey store and its UI: `pigeon demo marker`.";

/// Seed 002's marker pipeline on pigeon-bus: page → processor → persister, one trace per mark.
#[derive(Debug, Parser)]
#[command(name = "marker", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    part: Part,
    /// The bus: a NATS URL (JetStream enabled).
    #[arg(
        long,
        global = true,
        env = "MARKER_BUS",
        default_value = "nats://127.0.0.1:4222"
    )]
    bus: String,
    /// Where published messages carry their trace context: `headers`, or `correlation-id` (a
    /// `CorrelationId` field in the JSON, for brokers without headers).
    #[arg(
        long,
        global = true,
        env = "MARKER_CARRIER",
        value_parser = example_marker::parse_carrier,
        default_value = "headers"
    )]
    carrier: ContextCarrier,
    /// Put both topics under this prefix (`PREFIX.internal`, `PREFIX.external`); every process
    /// of one run needs the same one.
    #[arg(long, global = true, env = "MARKER_PREFIX")]
    prefix: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Part {
    /// Serves the marker page at /marker/ and publishes the marks it posts to `internal`.
    Web {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Where the page exports its spans (OTLP/HTTP), e.g. a `pigeon serve`'s /v1/traces.
        #[arg(long, default_value = "/v1/traces")]
        otlp_endpoint: String,
        /// Where the page links each mark's journey.
        #[arg(long, default_value = "/ui/")]
        journey_ui: String,
    },
    /// Adds processed=true to each mark of `internal` and publishes it to `external`.
    Processor,
    /// Appends each mark of `external` to a JSON-lines file, once, synced before the ack.
    Persister {
        /// The messages file.
        #[arg(long, default_value = "messages.jsonl")]
        file: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let service = match cli.part {
        Part::Web { .. } => services::GATEWAY,
        Part::Processor => services::PROCESSOR,
        Part::Persister { .. } => services::PERSISTER,
    };
    let config = TelemetryConfig::from_env().context("reading OTEL_* variables")?;
    let named_by_env = std::env::var_os("OTEL_SERVICE_NAME").is_some_and(|v| !v.is_empty());
    let config = if named_by_env {
        config
    } else {
        config.with_service_name(service)
    };
    let telemetry = pigeon_telemetry::init(config).context("starting telemetry")?;

    let carrier = cli.carrier;
    let backend = NatsBackend::connect(&cli.bus, NatsConfig::new())
        .await
        .with_context(|| format!("connecting to NATS at {}", cli.bus))?;
    let bus = Bus::builder(backend).carrier(carrier).build();
    let topics = Topics::new(cli.prefix.as_deref());
    let tracer = opentelemetry::global::tracer(example_marker::TRACER_NAME);

    let result = run(cli.part, bus.clone(), tracer, topics, carrier).await;
    bus.shutdown().await;
    if let Err(error) = telemetry.shutdown() {
        eprintln!("flushing telemetry: {error}");
    }
    result
}

async fn run(
    part: Part,
    bus: Bus,
    tracer: opentelemetry::global::BoxedTracer,
    topics: Topics,
    carrier: ContextCarrier,
) -> anyhow::Result<()> {
    let subscription = match part {
        Part::Web {
            listen,
            otlp_endpoint,
            journey_ui,
        } => {
            let config = WebConfig {
                otlp_endpoint,
                carrier,
                journey_ui,
                topics,
            };
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            let addr = listener.local_addr()?;
            tracing::info!(listen = %addr, "marker page at http://{addr}/marker/");
            axum::serve(listener, example_marker::router(bus, config))
                .with_graceful_shutdown(pigeon_telemetry::shutdown_signal())
                .await
                .context("serving HTTP")?;
            return Ok(());
        }
        Part::Processor => example_marker::start_processor(bus, tracer, topics).await?,
        Part::Persister { file } => {
            let file =
                JsonlFile::open(&file).with_context(|| format!("opening {}", file.display()))?;
            tracing::info!(path = %file.path().display(), marks = file.len(), "messages file open");
            example_marker::start_persister(bus, tracer, topics, Arc::new(file)).await?
        }
    };
    tracing::info!(
        topic = subscription.topic(),
        group = subscription.group(),
        "consuming"
    );
    pigeon_telemetry::shutdown_signal().await;
    subscription.shutdown().await;
    Ok(())
}

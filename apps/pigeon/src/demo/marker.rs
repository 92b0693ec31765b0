//! `pigeon demo marker`: seed 002's pipeline in this process, with the page to click.
//!
//! The marker page, its gateway, processor and persister on the in-process bus; every span
//! (the browser's arrive over OTLP/HTTP at `/v1/traces` on the same port) goes to an embedded
//! journey store, browsable at `/ui/` and over the journey API. Runs until Ctrl-C (or
//! `--seconds`), then reports how many marks were persisted and the last one's journey.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use example_marker::{JsonlFile, Topics, WebConfig, services};
use opentelemetry::metrics::MeterProvider as _;
use pigeon_bus::{Backend, Bus, ContextCarrier, MemoryBackend};
use pigeon_journey::{JourneyOptions, JourneyStore};
use pigeon_telemetry::Telemetry;

use crate::trace::waterfall;

#[derive(Debug, Args)]
pub(crate) struct MarkerDemoArgs {
    /// Address of the page, the journey UI and the OTLP receiver.
    #[arg(long, default_value = "127.0.0.1:7880")]
    listen: SocketAddr,
    /// The messages file persister appends to.
    #[arg(long, default_value = "messages.jsonl")]
    file: PathBuf,
    /// Where trace context rides: `headers`, or `correlation-id` (a `CorrelationId` field in
    /// the JSON, seed 002's technique for brokers without headers).
    #[arg(long, value_parser = example_marker::parse_carrier, default_value = "headers")]
    carrier: ContextCarrier,
    /// Stop after this many seconds instead of at Ctrl-C.
    #[arg(long)]
    seconds: Option<u64>,
}

pub(crate) async fn run(args: MarkerDemoArgs) -> anyhow::Result<()> {
    let carrier = args.carrier;
    let journeys = JourneyStore::in_memory();
    let _drainer = journeys
        .spawn_drainer(pigeon_journey::DEFAULT_DRAIN_EVERY)
        .context("starting the journey store's drainer")?;
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let mut telemetry = Vec::new();
    for service in [services::GATEWAY, services::PROCESSOR, services::PERSISTER] {
        telemetry.push(super::service_telemetry(service, &journeys)?);
    }
    let bus_of = |t: &Telemetry| {
        Bus::builder_shared(backend.clone())
            .tracer(t.tracer("pigeon-bus"))
            .meter(t.meter_provider().meter("pigeon-bus"))
            .propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new())
            .carrier(carrier)
            .build()
    };
    let tracer_of = |t: &Telemetry| {
        opentelemetry::global::BoxedTracer::new(Box::new(t.tracer(example_marker::TRACER_NAME)))
    };
    let (gateway, processor, persister) = (&telemetry[0], &telemetry[1], &telemetry[2]);
    let topics = Topics::default();
    let file = Arc::new(
        JsonlFile::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?,
    );
    let processing =
        example_marker::start_processor(bus_of(processor), tracer_of(processor), topics.clone())
            .await?;
    let persisting = example_marker::start_persister(
        bus_of(persister),
        tracer_of(persister),
        topics.clone(),
        file.clone(),
    )
    .await?;
    let web = WebConfig {
        carrier,
        topics,
        ..WebConfig::default()
    };
    let app = example_marker::router(bus_of(gateway), web)
        .merge(pigeon_otlp::router(journeys.ingestor()))
        .merge(pigeon_journey_web::router(journeys.clone()));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    eprintln!(
        "demo marker: listen={addr}\n  the page:    http://{addr}/marker/\n  journeys:    http://{addr}/ui/\n  persisting:  {} ({} marks so far)\nCtrl-C stops.",
        file.path().display(),
        file.len()
    );
    let seconds = args.seconds;
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let elapsed = async {
                match seconds {
                    Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = elapsed => {}
                () = pigeon_telemetry::shutdown_signal() => {}
            }
        })
        .await
        .context("serving HTTP")?;
    processing.shutdown().await;
    persisting.shutdown().await;
    backend.shutdown().await;
    for t in &telemetry {
        t.flush_async().await?;
    }
    journeys.drain()?;
    report(&journeys, &file);
    Ok(())
}

fn report(journeys: &JourneyStore, file: &JsonlFile) {
    println!("\n{} marks in {}.", file.len(), file.path().display());
    let last = journeys.search(&pigeon_journey::TraceQuery {
        service: Some(services::PERSISTER.into()),
        limit: 1,
        ..pigeon_journey::TraceQuery::default()
    });
    let mark = last.first().and_then(|t| {
        journeys.trace(t.trace_id).into_iter().find_map(|s| {
            s.attribute(example_marker::MESSAGE_ID)
                .map(|v| v.to_text().into_owned())
        })
    });
    if let Some(mark) = mark {
        println!("The last mark, end to end (`pigeon trace {mark}` shows the same from a server):");
        for line in waterfall(&journeys.journey(&mark, &JourneyOptions::default()), 48) {
            println!("{line}");
        }
    }
}

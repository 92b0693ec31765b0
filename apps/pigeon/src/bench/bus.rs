//! `pigeon bench bus`: one hop — publish → handler → ack — as fast as it goes.
//!
//! Publisher tasks publish as fast as the bus accepts, bounded by a window of messages
//! published and not yet handled (so the measurement is of the bus, not of an ever-growing
//! queue). One subscriber group handles them. Latency is publish to handler start.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use pigeon_bus::{Backend, Bus, MemoryBackend, Message, OutgoingMessage, SubscribeOptions};
use serde::Serialize;

use pigeon_bus_nats::{BaselineOptions, NatsBackend, NatsConfig, raw_jetstream_baseline};
use pigeon_telemetry::{SamplerConfig, SpanConsumer, Telemetry};

use super::latency::Latencies;

/// Counts the spans that reach the in-process sink.
#[derive(Default)]
struct CountingConsumer(AtomicU64);

impl CountingConsumer {
    fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl SpanConsumer for CountingConsumer {
    fn consume(&self, batch: &[opentelemetry_sdk::trace::SpanData]) {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum BackendKind {
    /// In-process (the embedded default).
    Memory,
    /// NATS JetStream.
    Nats,
}

#[derive(Debug, Clone, Copy, ValueEnum, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TracingMode {
    /// No spans.
    Off,
    /// Every message traced (100 % sampled) into the in-process span sink.
    On,
}

/// Options of `pigeon bench bus`.
#[derive(Debug, Args)]
pub(crate) struct BusBenchArgs {
    /// Which backend to measure.
    #[arg(long, value_enum, default_value = "memory")]
    backend: BackendKind,
    /// NATS server, for `--backend nats`.
    #[arg(long, env = "PIGEON_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// How long to publish.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Size of each message body.
    #[arg(long, default_value_t = 64)]
    payload_bytes: usize,
    /// Whether the bus traces every message.
    #[arg(long, value_enum, default_value = "off")]
    tracing: TracingMode,
    /// Publishing tasks [default: 1 in memory (one producer, one consumer: the two cores of the
    /// reference machine), 64 over NATS, where each awaits its PubAck]
    #[arg(long)]
    publishers: Option<usize>,
    /// Most messages published and not yet handled.
    #[arg(long, default_value_t = 8192)]
    window: usize,
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

impl BusBenchArgs {
    fn publishers(&self) -> usize {
        let default = match self.backend {
            BackendKind::Memory => 1,
            BackendKind::Nats => 64,
        };
        self.publishers.unwrap_or(default).max(1)
    }
}

#[derive(Debug, Serialize)]
struct Report {
    backend: BackendKind,
    tracing: TracingMode,
    messages: u64,
    seconds: f64,
    msgs_per_s: f64,
    p50_us: u64,
    p99_us: u64,
    spans_dropped: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw_msgs_per_s: Option<f64>,
}

pub(crate) async fn run(args: BusBenchArgs) -> anyhow::Result<()> {
    let backend: Arc<dyn Backend> = match args.backend {
        BackendKind::Memory => Arc::new(MemoryBackend::new()),
        BackendKind::Nats => Arc::new(
            NatsBackend::connect(&args.nats_url, NatsConfig::new())
                .await
                .with_context(|| format!("connecting to NATS at {}", args.nats_url))?,
        ),
    };
    let spans = Arc::new(CountingConsumer::default());
    let telemetry = match args.tracing {
        TracingMode::Off => None,
        TracingMode::On => Some(
            Telemetry::builder()
                .with_sampler(SamplerConfig::AlwaysOn)
                .with_consumer(spans.clone())
                .build_local()
                .context("setting up the span sink")?,
        ),
    };
    let mut bus = Bus::builder_shared(backend);
    bus = match &telemetry {
        Some(t) => bus.tracer(t.tracer("pigeon-bus")),
        None => bus.tracing(false),
    };
    let bus = bus.build();
    let (messages, seconds, latencies) = one_hop(&bus, &args).await?;
    let raw_msgs_per_s = match args.backend {
        BackendKind::Memory => None,
        BackendKind::Nats => {
            eprintln!("bench bus: raw async-nats JetStream baseline, same settings…");
            let options = BaselineOptions {
                publishers: args.publishers(),
                message_ids: true,
            };
            let duration = Duration::from_secs(args.seconds.max(1));
            Some(
                raw_jetstream_baseline(&args.nats_url, duration, args.payload_bytes, options)
                    .await
                    .context("measuring the raw JetStream baseline")?,
            )
        }
    };
    let spans_dropped = match telemetry {
        Some(t) => {
            t.flush_async().await.context("flushing spans")?;
            eprintln!(
                "bench bus: {} spans reached the in-process sink",
                spans.count()
            );
            t.spans_dropped()
        }
        None => 0,
    };
    let (p50_us, p99_us) = latencies.percentiles()?;
    let report = Report {
        backend: args.backend,
        tracing: args.tracing,
        messages,
        seconds,
        msgs_per_s: messages as f64 / seconds,
        p50_us,
        p99_us,
        spans_dropped,
        raw_msgs_per_s,
    };
    eprintln!(
        "bench bus: {} msgs in {:.1} s = {:.0} msgs/s, p50 {} µs, p99 {} µs",
        report.messages, report.seconds, report.msgs_per_s, report.p50_us, report.p99_us
    );
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}

/// Runs the hop for `args.seconds`; returns messages handled, seconds taken, latencies.
async fn one_hop(bus: &Bus, args: &BusBenchArgs) -> anyhow::Result<(u64, f64, Latencies)> {
    let topic: Arc<str> = format!("bench.bus.{}", uuid_suffix()).into();
    let window = args.window as u64;
    let handled = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Latencies::new()?);
    let (h, l) = (handled.clone(), latencies.clone());
    let options = SubscribeOptions::new(&*topic, "bench").max_in_flight(1024);
    let subscription = bus
        .subscribe(options, move |m: Message| {
            let n = h.fetch_add(1, Ordering::Relaxed);
            let waited = SystemTime::now()
                .duration_since(m.envelope.published_at)
                .unwrap_or_default();
            l.record(n, u64::try_from(waited.as_micros()).unwrap_or(u64::MAX));
            std::future::ready(Ok(()))
        })
        .await
        .context("subscribing the bench consumer")?;

    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let payload = bytes::Bytes::from(vec![b'x'; args.payload_bytes]);
    let mut publishers = tokio::task::JoinSet::new();
    for _ in 0..args.publishers() {
        let (bus, topic, payload) = (bus.clone(), topic.clone(), payload.clone());
        let (stop, published, handled) = (stop.clone(), published.clone(), handled.clone());
        publishers.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                // Keep at most `window` messages between publish and handler, without a wake-up
                // per message: a full window just yields to the consumer.
                if published.load(Ordering::Relaxed) >= handled.load(Ordering::Relaxed) + window {
                    tokio::task::yield_now().await;
                    continue;
                }
                bus.publish(OutgoingMessage::new(&topic, payload.clone()))
                    .await?;
                published.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        });
    }

    let started = Instant::now();
    let duration = Duration::from_secs(args.seconds.max(1));
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    while started.elapsed() < duration {
        ticker.tick().await;
        eprintln!(
            "bench bus: {:>3.0} s  {:>12} handled",
            started.elapsed().as_secs_f64(),
            handled.load(Ordering::Relaxed)
        );
    }
    let handled_at_end = handled.load(Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    while let Some(result) = publishers.join_next().await {
        result?.context("publishing")?;
    }
    // Let the tail drain so the next run starts clean.
    let drain_until = Instant::now() + Duration::from_secs(10);
    while handled.load(Ordering::Relaxed) < published.load(Ordering::Relaxed)
        && Instant::now() < drain_until
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    subscription.shutdown().await;
    let latencies = Arc::try_unwrap(latencies)
        .map_err(|_| anyhow::anyhow!("the subscription still holds the latency recorder"))?;
    Ok((handled_at_end, seconds, latencies))
}

fn uuid_suffix() -> String {
    pigeon_bus::MessageId::generate()
        .to_string()
        .replace('-', "")
}

//! `pigeon bench pipeline`: the restaurant order pipeline (seed 001) at full speed, traced.
//!
//! All five services in this process on the in-process bus, every span (100 % sampled) into an
//! embedded journey store, as `pigeon demo orders` runs them. With `--time-scale 0` (the
//! default) the steps take no time of their own, so what is measured is the machinery an order
//! goes through: three or five bus hops, a dozen spans, the journey store.
//!
//! Two phases, as throughput and latency are measured apart: first the ordering services place
//! orders as fast as the bus takes them (topics bounded, so publishers wait instead of piling
//! up a backlog) for the saturation throughput; then at half that rate, where queues stay short,
//! for the end-to-end latency and its split. The figures come from the spans themselves: an
//! order runs from the start of `place-order` to the end of the kitchen's `process` span, cut
//! into consecutive segments (placing, the hop to validation, validation, the hop to the
//! kitchen, the kitchen) whose shares add up to 100 %.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use example_orders::{Knobs, PipelineConfig, Schedule, Topics, run_all};
use hdrhistogram::Histogram;
use pigeon_bus::MemoryConfig;
use pigeon_journey::{JourneyStore, SpanRecord, TraceQuery};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::demo::TracedPipeline;

/// Options of `pigeon bench pipeline`.
#[derive(Debug, Args)]
pub(crate) struct PipelineBenchArgs {
    /// How long orders are placed.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Step times as a fraction of the seed's (place 50–400 ms, cook 0.3–1.5 s, …): 0 measures
    /// the pipeline's own cost, 1 the seed's restaurant.
    #[arg(long, default_value_t = 0.0)]
    time_scale: f64,
    /// Orders per second placed by each of the three ordering services; 0 places them as fast
    /// as the bus takes them.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

/// One segment of an order's way, and its share of the end-to-end time.
#[derive(Debug, Serialize)]
struct Segment {
    orders: u64,
    mean_ms: f64,
    share: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    seconds: u64,
    time_scale: f64,
    /// Orders completed in the latency phase's window.
    orders: u64,
    /// Saturation throughput: orders completed per second, placed as fast as the bus takes them.
    orders_per_s: f64,
    /// The load of the latency phase (half the saturation throughput unless `--rate`).
    load_orders_per_s: f64,
    e2e_p50_ms: f64,
    e2e_p99_ms: f64,
    spans: u64,
    spans_dropped: u64,
    steps: BTreeMap<&'static str, Segment>,
}

pub(crate) async fn run(args: PipelineBenchArgs) -> anyhow::Result<()> {
    let saturation = if args.rate == 0 {
        eprintln!(
            "bench pipeline: phase 1, orders placed as fast as the bus takes them, for {} s…",
            args.seconds
        );
        let phase = run_phase(&args, Duration::ZERO).await?;
        eprintln!(
            "bench pipeline: saturation {:.0} orders/s ({} spans, {} dropped)",
            phase.orders_per_s, phase.spans, phase.spans_dropped
        );
        Some(phase)
    } else {
        None
    };
    // Three ordering services share the load.
    let load = match &saturation {
        Some(phase) => (phase.orders_per_s / 2.0).max(3.0),
        None => 3.0 * args.rate as f64,
    };
    eprintln!(
        "bench pipeline: phase 2, {load:.0} orders/s, for {} s…",
        args.seconds
    );
    let every = Duration::from_secs_f64(3.0 / load);
    let mut report = run_phase(&args, every).await?;
    report.load_orders_per_s = report.orders_per_s;
    if let Some(phase) = saturation {
        report.orders_per_s = phase.orders_per_s;
        report.spans += phase.spans;
        report.spans_dropped += phase.spans_dropped;
    }
    eprintln!(
        "bench pipeline: {:.0} orders/s at saturation; at {:.0} orders/s end to end p50 {:.2} ms, p99 {:.2} ms; {} spans ({} dropped)",
        report.orders_per_s,
        report.load_orders_per_s,
        report.e2e_p50_ms,
        report.e2e_p99_ms,
        report.spans,
        report.spans_dropped
    );
    for (step, segment) in &report.steps {
        eprintln!(
            "  {step:<18} {:>6.1} % of the time, mean {:.3} ms over {} orders",
            segment.share * 100.0,
            segment.mean_ms,
            segment.orders
        );
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}

/// Runs the five services for `--seconds`, each ordering service placing an order every
/// `every` (zero: as fast as it can), and measures the orders completed in that window.
async fn run_phase(args: &PipelineBenchArgs, every: Duration) -> anyhow::Result<Report> {
    let journeys = JourneyStore::in_memory();
    let _drainer = journeys
        .spawn_drainer(pigeon_journey::DEFAULT_DRAIN_EVERY)
        .context("starting the journey store's drainer")?;
    let bus = MemoryConfig {
        // A short queue per topic: at saturation publishers wait for room (up to a minute)
        // rather than build a backlog that would only measure its own length.
        max_messages_per_topic: 1024,
        publish_timeout: Duration::from_secs(60),
        ..MemoryConfig::default()
    };
    let pipeline = TracedPipeline::new(&journeys, bus)?;
    let config = PipelineConfig {
        knobs: Knobs::default()
            .with_time_scale(args.time_scale)
            .context("--time-scale")?,
        website: Schedule::every(every),
        onsite: Schedule::every(every),
        direct: Schedule::every(every),
        max_in_flight: 256,
        ..PipelineConfig::default()
    };
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let seconds = args.seconds;
    let window_end = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let end = pigeon_journey::now_unix_nano();
        stop.cancel();
        end
    });
    run_all(pipeline.wiring(), config, shutdown).await?;
    let window_end = window_end.await?;
    pipeline.finish().await?;
    journeys.drain()?;
    let mut report = measure(&journeys, args.seconds, args.time_scale, window_end)?;
    report.spans_dropped += pipeline.spans_dropped();
    Ok(report)
}

/// The segments of one order's trace, in nanoseconds, or `None` if it did not reach the kitchen.
fn segments(spans: &[SpanRecord], topics: &Topics) -> Option<Vec<(&'static str, u64)>> {
    let find = |name: &str| spans.iter().find(|s| s.name == name);
    let place = find("place-order")?;
    let send_kitchen = find(&format!("send {}", topics.kitchen))?;
    let kitchen = find(&format!("process {}", topics.kitchen))?;
    let gap = |from: u64, to: u64| to.saturating_sub(from);
    let mut out = Vec::with_capacity(5);
    match (
        find(&format!("send {}", topics.validate)),
        find(&format!("process {}", topics.validate)),
    ) {
        (Some(send), Some(validation)) => {
            out.push(("place", gap(place.start_unix_nano, send.start_unix_nano)));
            out.push((
                "hop to validation",
                gap(send.start_unix_nano, validation.start_unix_nano),
            ));
            out.push((
                "validation",
                gap(validation.start_unix_nano, send_kitchen.start_unix_nano),
            ));
        }
        // direct-kitchen-ordering skips validation.
        _ => out.push((
            "place",
            gap(place.start_unix_nano, send_kitchen.start_unix_nano),
        )),
    }
    out.push((
        "hop to kitchen",
        gap(send_kitchen.start_unix_nano, kitchen.start_unix_nano),
    ));
    out.push((
        "kitchen",
        gap(kitchen.start_unix_nano, kitchen.end_unix_nano),
    ));
    Some(out)
}

fn measure(
    journeys: &JourneyStore,
    seconds: u64,
    time_scale: f64,
    window_end: u64,
) -> anyhow::Result<Report> {
    let topics = Topics::default();
    let traces = journeys.search(&TraceQuery {
        service: Some("kitchen-service".into()),
        span_name: Some(format!("process {}", topics.kitchen)),
        limit: usize::MAX,
        ..TraceQuery::default()
    });
    let mut e2e = Histogram::<u64>::new_with_bounds(1, 600_000_000_000, 3)?;
    let mut totals: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
    let (mut orders, mut e2e_total) = (0u64, 0u64);
    for trace in &traces {
        let spans = journeys.trace(trace.trace_id);
        let Some(parts) = segments(&spans, &topics) else {
            continue;
        };
        let total: u64 = parts.iter().map(|(_, ns)| ns).sum();
        let finished = spans
            .iter()
            .map(|s| s.end_unix_nano)
            .max()
            .unwrap_or(u64::MAX);
        if finished > window_end {
            // Completed while the pipeline drained: outside the measured window.
            continue;
        }
        orders += 1;
        e2e_total += total;
        e2e.saturating_record(total.max(1));
        for (name, ns) in parts {
            let entry = totals.entry(name).or_default();
            entry.0 += 1;
            entry.1 += ns;
        }
    }
    let stats = journeys.stats();
    let ms = |ns: u64| ns as f64 / 1e6;
    Ok(Report {
        seconds,
        time_scale,
        orders,
        orders_per_s: orders as f64 / seconds.max(1) as f64,
        load_orders_per_s: 0.0,
        e2e_p50_ms: ms(e2e.value_at_quantile(0.5)),
        e2e_p99_ms: ms(e2e.value_at_quantile(0.99)),
        spans: stats.spans,
        spans_dropped: journeys.dropped(),
        steps: totals
            .into_iter()
            .map(|(name, (count, ns))| {
                (
                    name,
                    Segment {
                        orders: count,
                        mean_ms: ms(ns) / count.max(1) as f64,
                        share: ns as f64 / e2e_total.max(1) as f64,
                    },
                )
            })
            .collect(),
    })
}

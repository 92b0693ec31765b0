//! How many spans per second the span sink takes, and how many it drops.
//!
//! Run with
//! `cargo run --release -p pigeon-telemetry --example sink_throughput -- [threads] [seconds] [rate]`
//! (defaults: 2 threads, 3 seconds, as fast as possible; `rate` is a total target in spans/s).
//! The sink's capacity comes from `PIGEON_SPAN_SINK_CAPACITY` (default 131,072).
//!
//! Two measurements, each with a counting consumer on the sink:
//! * `sink`: producer threads call the processor's `on_end` with ready-made spans — the cost
//!   this crate adds per span;
//! * `tracer`: producer threads start and end real SDK spans with two attributes — what an
//!   application pays per span with this processor behind the SDK.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState, Tracer as _,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks, SpanProcessor as _};
use pigeon_telemetry::{SpanConsumer, TelemetryConfig};

#[derive(Default)]
struct Counter(AtomicU64);

impl SpanConsumer for Counter {
    fn consume(&self, batch: &[SpanData]) {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
    }
}

fn template() -> SpanData {
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(1u128),
            SpanId::from(1u64),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: "bench".into(),
        start_time: SystemTime::now(),
        end_time: SystemTime::now(),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("bench").build(),
    }
}

struct Outcome {
    offered: u64,
    delivered: u64,
    dropped: u64,
    seconds: f64,
}

fn run(mode: &str, threads: usize, seconds: u64, rate: Option<u64>) -> Outcome {
    let counter = Arc::new(Counter::default());
    // From the environment, so PIGEON_SPAN_SINK_CAPACITY can be varied.
    let config = match TelemetryConfig::from_env() {
        Ok(c) => c,
        Err(e) => panic!("config: {e}"),
    };
    let telemetry = match config
        .without_otlp()
        .with_consumer(counter.clone())
        .build_local()
    {
        Ok(t) => t,
        Err(e) => panic!("telemetry: {e}"),
    };
    let Some(sink) = telemetry.sink() else {
        panic!("tracing is enabled")
    };
    let processor = sink.processor();
    let stop = Arc::new(AtomicBool::new(false));
    let offered = Arc::new(AtomicU64::new(0));
    let per_thread_rate = rate.map(|r| r as f64 / threads as f64);

    let started = Instant::now();
    thread::scope(|s| {
        for _ in 0..threads {
            let stop = stop.clone();
            let offered = offered.clone();
            let processor = processor.clone();
            let tracer = telemetry.tracer("bench");
            let template = template();
            s.spawn(move || {
                let begun = Instant::now();
                let mut n: u64 = 0;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..256 {
                        if mode == "sink" {
                            processor.on_end(template.clone());
                        } else {
                            let mut span = tracer.start("bench");
                            span.set_attribute(KeyValue::new("messaging.system", "pigeon"));
                            span.set_attribute(KeyValue::new("message.size", 512_i64));
                            span.end();
                        }
                    }
                    n += 256;
                    if let Some(r) = per_thread_rate {
                        let due = Duration::from_secs_f64(n as f64 / r);
                        if let Some(wait) = due.checked_sub(begun.elapsed()) {
                            thread::sleep(wait);
                        }
                    }
                }
                offered.fetch_add(n, Ordering::Relaxed);
            });
        }
        thread::sleep(Duration::from_secs(seconds));
        stop.store(true, Ordering::Relaxed);
    });
    let seconds = started.elapsed().as_secs_f64();
    if let Err(e) = telemetry.force_flush() {
        eprintln!("flush: {e}");
    }
    let outcome = Outcome {
        offered: offered.load(Ordering::Relaxed),
        delivered: counter.0.load(Ordering::Relaxed),
        dropped: telemetry.spans_dropped(),
        seconds,
    };
    let _ = telemetry.shutdown();
    outcome
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let threads = args.first().and_then(|a| a.parse().ok()).unwrap_or(2);
    let seconds = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let rate: Option<u64> = args.get(2).and_then(|a| a.parse().ok());
    println!(
        "threads={threads} seconds={seconds} rate={} cores={}",
        rate.map_or("max".to_string(), |r| r.to_string()),
        thread::available_parallelism().map_or(0, |n| n.get())
    );
    for mode in ["sink", "tracer"] {
        let o = run(mode, threads, seconds, rate);
        // Per-span cost only means something when the producers never sleep.
        let cost = if rate.is_none() {
            format!(
                ", {:.0} ns/span/thread",
                1e9 * o.seconds * threads as f64 / o.offered.max(1) as f64
            )
        } else {
            String::new()
        };
        println!(
            "{mode:>6}: offered {:>10} spans = {:>10.0} spans/s, delivered {:>10} = {:>10.0} spans/s, dropped {} ({:.3}%){cost}",
            o.offered,
            o.offered as f64 / o.seconds,
            o.delivered,
            o.delivered as f64 / o.seconds,
            o.dropped,
            100.0 * o.dropped as f64 / o.offered.max(1) as f64,
        );
    }
}

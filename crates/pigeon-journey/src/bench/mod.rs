//! The `pigeon bench journey` workload, as a library function so the CLI, a release-mode
//! example and CI share one implementation.
//!
//! It synthesises Pigeon-shaped traffic: per message, a DM send trace (HTTP request →
//! `messaging.send` → store → `send dm.deliver` PRODUCER → `process dm.deliver` CONSUMER in
//! the router → route → WebSocket push; 7 spans, bus attributes, `message.id`,
//! `messaging.message.id`, `conversation.id`) and, for every other message, a delivery
//! receipt trace of 3 spans linked to the send and carrying the same `message.id`. It then
//! measures: single-core ingest throughput (queue + drain, one thread), drops under a paced
//! producer at a fixed rate with a drainer thread, journey lookup latency, and memory per
//! stored span (heap capacities of the arena, indexes and tables, divided by spans).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::{Retention, StoreConfig};
use crate::query::{FlowRule, JourneyOptions, TimeRange, TraceQuery, percentile};
use crate::record::SpanRecord;
use crate::store::{JourneyStore, now_unix_nano};

mod workload;

use workload::{Rng, message_id, message_spans};

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchOptions {
    /// Spans to store for the throughput, journey and memory measurements.
    pub spans: usize,
    /// Spans per ingest call.
    pub batch: usize,
    /// Journey lookups to time.
    pub journeys: usize,
    /// Rate of the paced (drop) test, spans per second; 0 skips it.
    pub paced_rate: u64,
    /// Spans sent in the paced test.
    pub paced_spans: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            spans: 1_000_000,
            batch: 512,
            journeys: 2_000,
            paced_rate: 500_000,
            paced_spans: 1_000_000,
        }
    }
}

/// The measured figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Spans stored.
    pub spans: u64,
    /// Traces stored.
    pub traces: u64,
    /// Spans per second through `ingest` + `drain` on one thread.
    pub ingest_spans_per_s: f64,
    /// The same per second of the thread's own CPU time (Linux only): unaffected by other
    /// processes competing for the core.
    pub ingest_spans_per_cpu_s: Option<f64>,
    /// Of which: spans per second through `ingest` alone (the producer's cost).
    pub queue_spans_per_s: f64,
    /// Of which: spans per second through `drain` alone (encode, index, free the records).
    pub drain_spans_per_s: f64,
    /// Spans dropped while storing `spans` (expected 0: the queue is drained between rounds).
    pub dropped: u64,
    /// Rate of the paced test, spans per second.
    pub paced_rate: u64,
    /// Spans dropped in the paced test (producer thread at `paced_rate`, drainer thread).
    pub paced_dropped: u64,
    /// Median journey lookup, ms.
    pub journey_p50_ms: f64,
    /// 99th percentile journey lookup, ms.
    pub journey_p99_ms: f64,
    /// Spans in one looked-up journey (sanity check: 7 or 10).
    pub journey_spans: usize,
    /// Heap bytes of the store (arena, indexes, tables; capacities) per stored span.
    pub bytes_per_span: f64,
    /// Bytes counted by retention per stored span.
    pub accounted_bytes_per_span: f64,
    /// Growth of the process's resident memory over the store phase, per stored span (Linux
    /// only). An upper bound: it also holds allocator slack and the freed input records of
    /// the last rounds, which the allocator keeps; it converges to `bytes_per_span` as the
    /// span count grows.
    pub rss_growth_per_span: Option<f64>,
    /// One `search` (service + minimum duration, 20 traces), ms.
    pub search_ms: f64,
    /// One `latency` over everything stored, ms.
    pub latency_ms: f64,
    /// One `service_graph` over everything stored, ms.
    pub graph_ms: f64,
    /// One `stuck` with the default flows, an hour later, first 100, ms.
    pub stuck_ms: f64,
}

/// Runs the benchmark with `spans` spans and default options.
pub fn bench(spans: usize) -> BenchReport {
    bench_with(&BenchOptions {
        spans,
        ..BenchOptions::default()
    })
}

/// Resident set size of the process, from `/proc/self/statm` (Linux; 4 KiB pages).
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// CPU time consumed by the calling thread, from `/proc/thread-self/schedstat` (Linux).
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Runs the benchmark.
pub fn bench_with(opts: &BenchOptions) -> BenchReport {
    let round = 65_536usize;
    let config = StoreConfig {
        retention: Retention {
            max_bytes: None,
            max_age: None,
        },
        ingest_capacity: round + opts.batch * 2,
        ..StoreConfig::default()
    };
    let rss_before = rss_bytes();
    let store = JourneyStore::in_memory_with(config);
    let base = now_unix_nano();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut msg = 0u64;
    let mut produced = 0usize;
    let mut busy = Duration::ZERO;
    let mut drain_busy = Duration::ZERO;
    let mut cpu_ns = 0u64;
    let mut buf: Vec<SpanRecord> = Vec::with_capacity(round + 16);
    while produced < opts.spans {
        buf.clear();
        while buf.len() < round && produced + buf.len() < opts.spans {
            message_spans(msg, base, &mut rng, &mut buf);
            msg += 1;
        }
        let mut batches: Vec<Vec<SpanRecord>> = Vec::new();
        for chunk in buf.chunks(opts.batch.max(1)) {
            batches.push(chunk.to_vec());
        }
        produced += buf.len();
        let cpu0 = thread_cpu_ns();
        let t = Instant::now();
        for b in batches {
            store.ingest(b);
        }
        let t_drain = Instant::now();
        let _ = store.drain();
        drain_busy += t_drain.elapsed();
        busy += t.elapsed();
        if let (Some(a), Some(b)) = (cpu0, thread_cpu_ns()) {
            cpu_ns += b.saturating_sub(a);
        }
    }
    let stats = store.stats();
    let rss_growth = rss_bytes()
        .zip(rss_before)
        .map(|(a, b)| a.saturating_sub(b));

    let mut times = Vec::with_capacity(opts.journeys);
    let mut journey_spans = 0;
    let mut qrng = Rng(0xfeed_f00d_0000_0001);
    for _ in 0..opts.journeys {
        let id = message_id(qrng.below(msg));
        let t = Instant::now();
        let j = store.journey(&id, &JourneyOptions::default());
        times.push(t.elapsed().as_nanos() as u64);
        journey_spans = j.spans.len();
    }
    times.sort_unstable();

    let timed = |f: &dyn Fn() -> usize| {
        let t = Instant::now();
        let n = f();
        (t.elapsed().as_secs_f64() * 1e3, n)
    };
    let (search_ms, _) = timed(&|| {
        store
            .search(&TraceQuery {
                service: Some("pigeon-router".into()),
                min_duration_ns: Some(2_900_000),
                ..TraceQuery::default()
            })
            .len()
    });
    let (latency_ms, _) = timed(&|| store.latency(TimeRange::all()).len());
    let (graph_ms, _) = timed(&|| store.service_graph(TimeRange::all()).edges.len());
    let (stuck_ms, _) = timed(&|| {
        store
            .stuck(&FlowRule::defaults(), base + 3_600 * 1_000_000_000, 100)
            .len()
    });

    let paced_dropped = if opts.paced_rate > 0 && opts.paced_spans > 0 {
        paced(opts)
    } else {
        0
    };
    let spans = stats.spans.max(1) as f64;
    BenchReport {
        spans: stats.spans,
        traces: stats.traces,
        ingest_spans_per_s: produced as f64 / busy.as_secs_f64().max(1e-9),
        ingest_spans_per_cpu_s: (cpu_ns > 0).then(|| produced as f64 / (cpu_ns as f64 / 1e9)),
        queue_spans_per_s: produced as f64 / (busy - drain_busy).as_secs_f64().max(1e-9),
        drain_spans_per_s: produced as f64 / drain_busy.as_secs_f64().max(1e-9),
        dropped: stats.dropped,
        paced_rate: opts.paced_rate,
        paced_dropped,
        journey_p50_ms: percentile(&times, 50.0) as f64 / 1e6,
        journey_p99_ms: percentile(&times, 99.0) as f64 / 1e6,
        journey_spans,
        bytes_per_span: stats.heap_bytes as f64 / spans,
        accounted_bytes_per_span: stats.accounted_bytes as f64 / spans,
        rss_growth_per_span: rss_growth.map(|g| g as f64 / spans),
        search_ms,
        latency_ms,
        graph_ms,
        stuck_ms,
    }
}

/// A producer thread at `paced_rate` spans/s against the default queue and a drainer
/// thread; returns the drop count.
fn paced(opts: &BenchOptions) -> u64 {
    let store = JourneyStore::in_memory_with(StoreConfig {
        retention: Retention {
            max_bytes: None,
            max_age: None,
        },
        ..StoreConfig::default()
    });
    let Ok(drainer) = store.spawn_drainer(Duration::from_millis(10)) else {
        return u64::MAX;
    };
    let ingestor = store.ingestor();
    let rate = opts.paced_rate as f64;
    let batch = opts.batch.max(1);
    // Generated up front, so the producer thread measures the store, not the generator.
    let mut rng = Rng(0xabcdef);
    let base = now_unix_nano();
    let mut batches: Vec<Vec<SpanRecord>> = Vec::new();
    let mut generated = 0;
    let mut msg = 0u64;
    while generated < opts.paced_spans {
        let mut b = Vec::with_capacity(batch + 16);
        while b.len() < batch {
            message_spans(msg, base, &mut rng, &mut b);
            msg += 1;
        }
        generated += b.len();
        batches.push(b);
    }
    let producer = std::thread::spawn(move || {
        let start = Instant::now();
        let mut sent = 0usize;
        for b in batches {
            let due = start + Duration::from_secs_f64(sent as f64 / rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            sent += b.len();
            ingestor.ingest(b);
        }
    });
    let _ = producer.join();
    drainer.stop();
    store.dropped()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_bench_runs_and_finds_journeys() {
        let r = bench_with(&BenchOptions {
            spans: 20_000,
            batch: 256,
            journeys: 50,
            paced_rate: 100_000,
            paced_spans: 20_000,
        });
        assert!(r.spans >= 20_000, "{r:?}");
        assert_eq!(r.dropped, 0);
        assert_eq!(r.paced_dropped, 0);
        assert!(r.journey_spans == 7 || r.journey_spans == 10, "{r:?}");
        assert!(
            r.bytes_per_span > 50.0 && r.bytes_per_span < 1_000.0,
            "{r:?}"
        );
    }
}

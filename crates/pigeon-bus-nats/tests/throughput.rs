//! Throughput of the bus over NATS next to raw async-nats, in one run. Ignored by default: it
//! is a measurement, not a check. Run it in release:
//!
//! ```text
//! cargo test -p pigeon-bus-nats --release --test throughput -- --ignored --nocapture
//! ```
//!
//! `PIGEON_BENCH_SECONDS` (default 5), `PIGEON_BENCH_PAYLOAD` (bytes, default 256),
//! `PIGEON_BENCH_PUBLISHERS` (concurrent publishing tasks, default 64) and `PIGEON_BENCH_ROUNDS`
//! (default 2) shape the runs: raw async-nats, raw with `Nats-Msg-Id`, the backend alone through
//! the `Backend` contract, and the bus, interleaved.

// Test helpers: failing loudly on a broken expectation is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use std::time::SystemTime;

use pigeon_bus::{
    Backend, Bus, ConsumerSpec, Envelope, Headers, MessageId, OutgoingMessage, SubscribeOptions,
};
use pigeon_bus_nats::{BaselineOptions, NatsBackend, raw_jetstream_baseline};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn bus_throughput(bus: &Bus, seconds: Duration, payload: usize, publishers: usize) -> f64 {
    let topic = support::unique("bench");
    let handled = Arc::new(AtomicU64::new(0));
    let subscription = bus
        .subscribe(SubscribeOptions::new(&topic, "bench"), {
            let handled = handled.clone();
            move |_message: pigeon_bus::Message| {
                handled.fetch_add(1, Ordering::Relaxed);
                async { Ok(()) }
            }
        })
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let payload = Bytes::from(vec![b'x'; payload]);
    let tasks: Vec<_> = (0..publishers)
        .map(|_| {
            let bus = bus.clone();
            let stop = stop.clone();
            let payload = payload.clone();
            let topic = topic.clone();
            let published = published.clone();
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    bus.publish(OutgoingMessage::new(&topic, payload.clone()))
                        .await
                        .unwrap();
                    published.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let started = Instant::now();
    tokio::time::sleep(seconds).await;
    let count = handled.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    if std::env::var_os("PIGEON_BENCH_VERBOSE").is_some() {
        println!(
            "  bus: published {} handled {count} in {elapsed:?}",
            published.load(Ordering::Relaxed)
        );
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    subscription.shutdown().await;
    count as f64 / elapsed.as_secs_f64()
}

/// The backend alone, no bus: the same publish → pull → ack as the baseline, through the
/// `Backend` contract (envelopes, headers, deliveries, ackers).
async fn backend_throughput(
    backend: Arc<NatsBackend>,
    seconds: Duration,
    payload: usize,
    publishers: usize,
) -> f64 {
    let topic: Arc<str> = Arc::from(support::unique("bench"));
    let mut deliveries = backend
        .consume(ConsumerSpec {
            topic: topic.clone(),
            group: Arc::from("bench"),
            ack_deadline: Duration::from_secs(30),
            max_in_flight: 256,
        })
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let handled = Arc::new(AtomicU64::new(0));
    let consuming = tokio::spawn({
        let stop = stop.clone();
        let handled = handled.clone();
        async move {
            while !stop.load(Ordering::Relaxed) {
                let (d, batch) = deliveries.next_batch(256).await;
                deliveries = d;
                for delivery in batch.unwrap() {
                    delivery.acker.ack().await.unwrap();
                    handled.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    let payload = Bytes::from(vec![b'x'; payload]);
    let tasks: Vec<_> = (0..publishers)
        .map(|_| {
            let backend = backend.clone();
            let stop = stop.clone();
            let payload = payload.clone();
            let topic = topic.clone();
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let envelope = Envelope {
                        id: MessageId::generate(),
                        topic: topic.clone(),
                        key: None,
                        headers: Headers::new(),
                        payload: payload.clone(),
                        published_at: SystemTime::now(),
                        transient: false,
                    };
                    backend.publish(envelope).await.unwrap();
                }
            })
        })
        .collect();
    let started = Instant::now();
    tokio::time::sleep(seconds).await;
    let count = handled.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    consuming.await.unwrap();
    count as f64 / elapsed.as_secs_f64()
}

async fn delete_test_streams(url: &str) {
    use futures::StreamExt as _;
    let js = async_nats::jetstream::new(async_nats::connect(url).await.unwrap());
    let names: Vec<String> = js
        .stream_names()
        .filter_map(|name| async move { name.ok() })
        .filter(|name| std::future::ready(name.starts_with("PIGEONTEST_bench")))
        .collect()
        .await;
    for name in names {
        let _ = js.delete_stream(&name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run with --ignored --nocapture, in release"]
async fn bus_over_nats_against_raw_async_nats() {
    let Some(backend) = support::backend().await else {
        return;
    };
    let seconds = Duration::from_secs(env_or("PIGEON_BENCH_SECONDS", 5));
    let payload = env_or("PIGEON_BENCH_PAYLOAD", 256) as usize;
    let publishers = env_or("PIGEON_BENCH_PUBLISHERS", 64) as usize;

    let url = support::nats_url();
    let plain = BaselineOptions {
        publishers,
        message_ids: false,
    };
    let with_ids = BaselineOptions {
        message_ids: true,
        ..plain
    };
    let backend = Arc::new(backend);
    let bus = Bus::builder_shared(backend.clone()).build();
    let rounds = env_or("PIGEON_BENCH_ROUNDS", 2);
    let (mut raw, mut raw_ids, mut alone, mut ours) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Interleaved rounds, so load from elsewhere on the machine hits all four alike.
    for _ in 0..rounds {
        raw.push(
            raw_jetstream_baseline(&url, seconds, payload, plain)
                .await
                .unwrap(),
        );
        raw_ids.push(
            raw_jetstream_baseline(&url, seconds, payload, with_ids)
                .await
                .unwrap(),
        );
        alone.push(backend_throughput(backend.clone(), seconds, payload, publishers).await);
        ours.push(bus_throughput(&bus, seconds, payload, publishers).await);
    }
    bus.shutdown().await;
    delete_test_streams(&url).await;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (raw, raw_ids, alone, ours) = (mean(&raw), mean(&raw_ids), mean(&alone), mean(&ours));
    println!(
        "payload {payload} B, {publishers} publishers, {rounds} x {} s: raw async-nats \
         {raw:.0} msgs/s, raw with Nats-Msg-Id {raw_ids:.0} msgs/s, NatsBackend alone \
         {alone:.0} msgs/s, pigeon-bus over NATS {ours:.0} msgs/s ({:.0} % of raw, {:.0} % of \
         raw with ids)",
        seconds.as_secs(),
        100.0 * ours / raw,
        100.0 * ours / raw_ids
    );
}

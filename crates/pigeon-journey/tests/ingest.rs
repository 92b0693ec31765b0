//! The ingest path: bounded, never blocking, drops counted; a drainer thread moves spans
//! into the store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use pigeon_journey::{JourneyStore, SpanRecord, StoreConfig};
use support::{MS, Span, t0};

fn spans(n: usize, t0: u64) -> Vec<SpanRecord> {
    (0..n)
        .map(|i| {
            Span::new((i % 251) as u8, (i / 251) as u8, "op", "svc")
                .at(t0 + i as u64 * MS, MS)
                .attr("message.id", format!("m-{i}"))
                .build()
        })
        .collect()
}

#[test]
fn full_queue_drops_and_counts() {
    let store = JourneyStore::in_memory_with(StoreConfig {
        ingest_capacity: 10,
        ingest_shards: 2,
        ..StoreConfig::default()
    });
    let t0 = t0();
    assert_eq!(store.ingest(spans(25, t0)), 10);
    assert_eq!(store.dropped(), 15);
    let ingestor = store.ingestor();
    assert!(!ingestor.ingest_one(spans(1, t0).remove(0)));
    assert_eq!(ingestor.dropped(), 16);
    assert_eq!(store.drain().unwrap(), 10);
    let stats = store.stats();
    assert_eq!((stats.spans, stats.accepted, stats.dropped), (10, 10, 16));
    // Room again after the drain.
    assert_eq!(store.ingest(spans(5, t0)), 5);
}

#[test]
fn concurrent_producers_with_a_drainer_lose_nothing() {
    let store = JourneyStore::in_memory_with(StoreConfig {
        ingest_capacity: 1 << 20,
        ..StoreConfig::default()
    });
    let drainer = store.spawn_drainer(Duration::from_millis(5)).unwrap();
    let t0 = t0();
    let producers: Vec<_> = (0..4)
        .map(|_| {
            let ing = store.ingestor();
            std::thread::spawn(move || {
                let mut accepted = 0;
                for _ in 0..50 {
                    accepted += ing.ingest(spans(100, t0));
                }
                accepted
            })
        })
        .collect();
    let accepted: usize = producers.into_iter().map(|p| p.join().unwrap()).sum();
    assert_eq!(accepted, 20_000);
    // The drainer catches up on its own...
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.stats().spans < 20_000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(store.stats().spans, 20_000);
    // ...and stopping it drains what is left.
    store.ingest(spans(7, t0));
    drainer.stop();
    assert_eq!(store.stats().spans, 20_007);
    assert_eq!(store.dropped(), 0);
}

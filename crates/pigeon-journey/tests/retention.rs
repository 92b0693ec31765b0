//! Retention by bytes and by age: the oldest spans go first, and no query ever returns an
//! evicted span (the indexes are cleaned in step with the arena).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use pigeon_journey::{
    JourneyOptions, JourneyStore, Retention, SpanKind, SpanRecord, StoreConfig, TimeRange,
    TraceQuery,
};
use support::{MS, Span, t0, trace};

/// Message `i`: a send trace (2 spans, `message.id = m-i`) and, linked to it, a receipt
/// trace (1 span, same id).
fn message(i: u8, start: u64) -> Vec<SpanRecord> {
    let id = format!("m-{i}");
    let send = i.wrapping_mul(2);
    let receipt = send.wrapping_add(1);
    vec![
        Span::new(send, 1, "messaging.send", "pigeon-dm")
            .at(start, 2 * MS)
            .attr("message.id", id.as_str())
            .build(),
        Span::new(send, 2, "send dm.deliver", "pigeon-dm")
            .parent(1)
            .kind(SpanKind::Producer)
            .at(start + MS, MS)
            .attr("messaging.message.id", id.as_str())
            .build(),
        Span::new(receipt, 1, "messaging.delivery_receipt", "pigeon-dm")
            .at(start + 10 * MS, MS)
            .attr("message.id", id.as_str())
            .link(send, 1)
            .build(),
    ]
}

fn store(retention: Retention) -> JourneyStore {
    JourneyStore::in_memory_with(StoreConfig::default().with_retention(retention))
}

fn assert_gone(store: &JourneyStore, i: u8) {
    let id = format!("m-{i}");
    let send = trace(i.wrapping_mul(2));
    let receipt = trace(i.wrapping_mul(2).wrapping_add(1));
    assert!(store.trace(send).is_empty(), "{id}");
    assert!(store.trace(receipt).is_empty(), "{id}");
    assert!(
        store
            .journey(&id, &JourneyOptions::default())
            .spans
            .is_empty()
    );
    assert!(
        store
            .find_by_attribute("message.id", &id, 10)
            .unwrap()
            .is_empty()
    );
    let recent = store.search(&TraceQuery {
        limit: 1_000,
        ..TraceQuery::default()
    });
    assert!(
        recent
            .iter()
            .all(|s| s.trace_id != send && s.trace_id != receipt)
    );
}

fn assert_whole(store: &JourneyStore, i: u8) {
    let id = format!("m-{i}");
    let j = store.journey(&id, &JourneyOptions::default());
    assert_eq!(j.spans.len(), 3, "{id}");
    assert_eq!(
        j.spans[0].backlinks.len(),
        1,
        "{id}: receipt links to the send"
    );
}

#[test]
fn byte_budget_evicts_oldest_and_keeps_indexes_consistent() {
    let t0 = t0();
    // Measure one message's cost, then allow room for ten.
    let probe = store(Retention {
        max_bytes: None,
        max_age: None,
    });
    probe.ingest(message(25, t0)); // same id length as the survivors
    probe.drain().unwrap();
    let per_message = probe.stats().accounted_bytes;

    let store = store(Retention {
        max_bytes: Some(per_message as usize * 10 + 10),
        max_age: None,
    });
    for i in 0..30u8 {
        store.ingest(message(i, t0 + u64::from(i) * 100 * MS));
        store.drain().unwrap();
    }
    let stats = store.stats();
    assert!(stats.accounted_bytes <= per_message * 10 + 10, "{stats:?}");
    assert_eq!(stats.spans, 30, "ten messages of three spans");
    assert_eq!(stats.evicted, 60);
    assert_eq!(stats.traces, 20);
    for i in 0..20 {
        assert_gone(&store, i);
    }
    for i in 20..30 {
        assert_whole(&store, i);
    }
    let lat = store.latency(TimeRange::all());
    assert_eq!(lat.iter().map(|l| l.count).sum::<usize>(), 30);
    let edges = store.service_graph(TimeRange::all()).edges;
    assert!(edges.is_empty(), "one service only: {edges:?}");
}

#[test]
fn eviction_can_split_a_journey_and_backlinks_follow() {
    let t0 = t0();
    // Budget for exactly the last span: the receipt survives, its linked send is gone.
    let probe = store(Retention {
        max_bytes: None,
        max_age: None,
    });
    probe.ingest(vec![message(1, t0).remove(2)]);
    probe.drain().unwrap();
    let receipt_cost = probe.stats().accounted_bytes as usize;

    let store = store(Retention {
        max_bytes: Some(receipt_cost),
        max_age: None,
    });
    store.ingest(message(1, t0));
    store.drain().unwrap();
    assert_eq!(store.stats().spans, 1);
    let j = store.journey("m-1", &JourneyOptions::default());
    assert_eq!(j.traces.len(), 1);
    assert_eq!(j.spans.len(), 1);
    assert_eq!(j.spans[0].span.name, "messaging.delivery_receipt");
    assert!(store.trace(trace(2)).is_empty());
    assert!(
        store
            .find_by_attribute("messaging.message.id", "m-1", 10)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn age_limit_evicts_spans_that_ended_too_long_ago() {
    let t0 = t0();
    let store = store(Retention {
        max_bytes: None,
        max_age: Some(Duration::from_secs(60)),
    });
    // Messages one second apart: 0..10 at t0 .. t0+9s.
    for i in 0..10u8 {
        store.ingest(message(i, t0 + u64::from(i) * 1_000 * MS));
    }
    store.drain().unwrap(); // t0 is two minutes ago
    assert_eq!(
        store.stats().spans,
        0,
        "everything ended more than 60 s ago"
    );

    let store = JourneyStore::in_memory_with(StoreConfig::default().with_retention(Retention {
        max_bytes: None,
        max_age: Some(Duration::from_secs(60)),
    }));
    let now = pigeon_journey::now_unix_nano();
    for i in 0..10u8 {
        store.ingest(message(i, now + u64::from(i) * 1_000 * MS));
    }
    store.drain().unwrap();
    assert_eq!(store.stats().spans, 30);
    // 65.5 s later: messages 0..=5 ended more than 60 s before (their last span ends at
    // start + 11 ms).
    let later = now + 65_500 * MS;
    assert_eq!(store.enforce_retention_at(later).unwrap(), 18);
    for i in 0..6 {
        assert_gone(&store, i);
    }
    for i in 6..10 {
        assert_whole(&store, i);
    }
    assert_eq!(store.stats().traces, 8);
}

//! Every query against one realistic scenario: a DM send and its later, linked delivery
//! receipt carrying the same message id; an audit trace linking to the receipt; an
//! undelivered DM; an order crossing the bus with a measured queue time; a marker flow that
//! never persisted and one that did. Results are asserted exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use pigeon_journey::{
    EdgeKind, FlowRule, JourneyOptions, JourneyStore, QueryError, SpanMatcher, SpanRef, TimeRange,
    TraceQuery,
};
use support::{MS, scenario, span_id, t, t0, trace};

fn store_with_scenario(t0: u64) -> JourneyStore {
    let store = JourneyStore::in_memory();
    assert_eq!(store.ingest(scenario(t0)), 16);
    assert_eq!(store.drain().unwrap(), 16);
    store
}

#[test]
fn trace_by_id_round_trips_every_field() {
    let t0 = t0();
    let store = store_with_scenario(t0);
    let expected: Vec<_> = scenario(t0)
        .into_iter()
        .filter(|s| s.trace_id == trace(t::SEND))
        .collect();
    assert_eq!(store.trace(trace(t::SEND)), expected);
    assert_eq!(store.trace(trace(0x77)), vec![]);
}

#[test]
fn find_by_indexed_attribute() {
    let t0 = t0();
    let store = store_with_scenario(t0);
    let ids = |key: &str, value: &str| -> Vec<_> {
        store
            .find_by_attribute(key, value, 10)
            .unwrap()
            .into_iter()
            .map(|s| s.trace_id)
            .collect()
    };
    // Newest first; the key must match (A3/A4 carry messaging.message.id only).
    assert_eq!(
        ids("message.id", "m-1"),
        vec![trace(t::RECEIPT), trace(t::SEND)]
    );
    assert_eq!(ids("messaging.message.id", "m-1"), vec![trace(t::SEND)]);
    assert_eq!(ids("conversation.id", "c-1"), vec![trace(t::SEND)]);
    assert_eq!(
        ids("order.id", "42"),
        vec![trace(t::ORDER)],
        "integers by text"
    );
    assert_eq!(ids("CorrelationId", "corr-2"), vec![trace(t::MARKER_OK)]);
    assert_eq!(ids("message.id", "m-3"), vec![]);
    assert_eq!(
        store.find_by_attribute("http.route", "/", 10),
        Err(QueryError::NotIndexed("http.route".into()))
    );

    let summary = &store.find_by_attribute("message.id", "m-1", 10).unwrap()[1];
    assert_eq!(summary.root_name, "POST /v1/messages");
    assert_eq!(summary.root_service, "pigeon-gateway");
    assert_eq!(summary.start_unix_nano, t0);
    assert_eq!(summary.duration_ns, 10 * MS);
    assert_eq!(summary.span_count, 4);
    assert_eq!(summary.error_count, 0);
    assert_eq!(
        summary.services,
        vec!["pigeon-dm", "pigeon-gateway", "pigeon-router"]
    );
}

#[test]
fn journey_joins_traces_by_id_and_by_links_both_ways() {
    let t0 = t0();
    let store = store_with_scenario(t0);
    let j = store.journey("m-1", &JourneyOptions::default());
    assert!(!j.truncated);
    let traces: Vec<_> = j
        .traces
        .iter()
        .map(|t| (t.trace_id, t.carries_id, t.depth))
        .collect();
    assert_eq!(
        traces,
        vec![
            (trace(t::SEND), true, 0),
            (trace(t::RECEIPT), true, 0),
            (trace(t::AUDIT), false, 1), // links to the receipt: found by backlink
        ]
    );
    let timeline: Vec<_> = j
        .spans
        .iter()
        .map(|s| {
            (
                s.span.name.as_str(),
                s.trace_index,
                s.span.start_unix_nano - t0,
            )
        })
        .collect();
    assert_eq!(
        timeline,
        vec![
            ("POST /v1/messages", 0, 0),
            ("messaging.send", 0, MS),
            ("send dm.deliver", 0, 2 * MS),
            ("process dm.deliver", 0, 5 * MS),
            ("POST /v1/receipts", 1, 50 * MS),
            ("messaging.delivery_receipt", 1, 51 * MS),
            ("audit receipt", 2, 60 * MS),
        ]
    );
    let backlinks: Vec<_> = j
        .spans
        .iter()
        .filter(|s| !s.backlinks.is_empty())
        .map(|s| (s.span.name.as_str(), s.backlinks.clone()))
        .collect();
    assert_eq!(
        backlinks,
        vec![
            (
                "messaging.send",
                vec![SpanRef {
                    trace_id: trace(t::RECEIPT),
                    span_id: span_id(t::RECEIPT, 1)
                }]
            ),
            (
                "messaging.delivery_receipt",
                vec![SpanRef {
                    trace_id: trace(t::AUDIT),
                    span_id: span_id(t::AUDIT, 1)
                }]
            ),
        ]
    );

    // Served as JSON later: ids are hex strings.
    let json = serde_json::to_value(&j).unwrap();
    assert_eq!(json["spans"][0]["span"]["trace_id"], "0a".repeat(16));
    assert_eq!(json["traces"][2]["carries_id"], false);

    // Bounds: no link hops at all.
    let shallow = store.journey(
        "m-1",
        &JourneyOptions {
            max_traces: 64,
            max_depth: 0,
        },
    );
    assert!(shallow.truncated);
    assert_eq!(shallow.traces.len(), 2);
    assert_eq!(shallow.spans.len(), 6);

    let one = store.journey("m-2", &JourneyOptions::default());
    assert_eq!(one.traces.len(), 1);
    assert_eq!(one.spans.len(), 2);
    assert_eq!(
        store.journey("42", &JourneyOptions::default()).spans.len(),
        2
    );
    assert!(
        store
            .journey("nope", &JourneyOptions::default())
            .spans
            .is_empty()
    );
}

#[test]
fn search_recent_traces_by_filters() {
    let t0 = t0();
    let store = store_with_scenario(t0);
    let run =
        |q: TraceQuery| -> Vec<_> { store.search(&q).into_iter().map(|s| s.trace_id).collect() };
    assert_eq!(
        run(TraceQuery {
            service: Some("pigeon-router".into()),
            ..TraceQuery::default()
        }),
        vec![trace(t::SEND)]
    );
    assert_eq!(
        run(TraceQuery {
            span_name: Some("messaging.send".into()),
            ..TraceQuery::default()
        }),
        vec![trace(t::LOST), trace(t::SEND)]
    );
    assert_eq!(
        run(TraceQuery {
            errors_only: true,
            ..TraceQuery::default()
        }),
        vec![trace(t::MARKER_STUCK)]
    );
    assert_eq!(
        run(TraceQuery {
            min_duration_ns: Some(15 * MS),
            ..TraceQuery::default()
        }),
        vec![trace(t::ORDER)]
    );
    assert_eq!(
        run(TraceQuery {
            service: Some("pigeon-dm".into()),
            max_duration_ns: Some(MS),
            ..TraceQuery::default()
        }),
        vec![trace(t::SEND)] // only `send dm.deliver` is that short
    );
    assert_eq!(
        run(TraceQuery {
            time: TimeRange {
                from_unix_nano: Some(t0 + 300 * MS),
                to_unix_nano: Some(t0 + 1_000 * MS),
            },
            ..TraceQuery::default()
        }),
        vec![trace(t::MARKER_OK), trace(t::MARKER_STUCK)]
    );
    assert_eq!(
        run(TraceQuery {
            limit: 2,
            ..TraceQuery::default()
        }),
        vec![trace(t::MARKER_OK), trace(t::MARKER_STUCK)]
    );
    assert_eq!(
        run(TraceQuery {
            service: Some("nobody".into()),
            ..TraceQuery::default()
        }),
        vec![]
    );
}

#[test]
fn latency_percentiles_per_operation() {
    let store = store_with_scenario(t0());
    let stats = store.latency(TimeRange::all());
    assert_eq!(stats.len(), 12);
    let find = |svc: &str, name: &str| {
        stats
            .iter()
            .find(|s| s.service == svc && s.span_name == name)
            .unwrap()
            .clone()
    };
    let send = find("pigeon-dm", "messaging.send");
    assert_eq!(
        (
            send.count,
            send.errors,
            send.p50_ms,
            send.p90_ms,
            send.p99_ms,
            send.max_ms
        ),
        (2, 0, 4.0, 6.0, 6.0, 6.0)
    );
    let proc = find("processor", "process-message");
    assert_eq!(
        (proc.count, proc.errors, proc.p50_ms, proc.p99_ms),
        (2, 1, 2.0, 3.0)
    );
    // Sorted by (service, name).
    assert_eq!(stats[0].service, "audit");
}

#[test]
fn service_graph_with_bus_queue_times() {
    let store = store_with_scenario(t0());
    let g = store.service_graph(TimeRange::all());
    assert_eq!(
        g.services,
        vec![
            "audit",
            "kitchen",
            "marker-page",
            "persister",
            "pigeon-dm",
            "pigeon-gateway",
            "pigeon-router",
            "processor",
            "website"
        ]
    );
    let edges: Vec<_> = g
        .edges
        .iter()
        .map(|e| {
            (
                e.from.as_str(),
                e.to.as_str(),
                e.kind,
                e.count,
                e.errors,
                e.latency.p50_ms,
                e.latency.p99_ms,
                e.queue_time.as_ref().map(|q| (q.count, q.p50_ms, q.p99_ms)),
            )
        })
        .collect();
    use EdgeKind::{Link, Parent};
    assert_eq!(
        edges,
        vec![
            (
                "marker-page",
                "processor",
                Parent,
                2,
                1,
                2.0,
                3.0,
                Some((2, 2.0, 4.0))
            ),
            ("pigeon-dm", "audit", Link, 1, 0, 1.0, 1.0, None),
            ("pigeon-dm", "pigeon-gateway", Link, 1, 0, 6.0, 6.0, None),
            (
                "pigeon-dm",
                "pigeon-router",
                Parent,
                1,
                0,
                2.0,
                2.0,
                Some((1, 3.0, 3.0))
            ),
            ("pigeon-gateway", "pigeon-dm", Parent, 3, 0, 4.0, 6.0, None),
            ("processor", "persister", Parent, 1, 0, 1.0, 1.0, None),
            // The consumer's own measurement wins over start − start (15 ms).
            (
                "website",
                "kitchen",
                Parent,
                1,
                0,
                20.0,
                20.0,
                Some((1, 7.5, 7.5))
            ),
        ]
    );
}

#[test]
fn stuck_journeys_report_their_last_step() {
    let t0 = t0();
    let store = store_with_scenario(t0);
    let now = t0 + 120_000 * MS;
    let stuck = store.stuck(&FlowRule::defaults(), now, 10);
    let got: Vec<_> = stuck
        .iter()
        .map(|s| {
            (
                s.flow.as_str(),
                s.started.span_name.as_str(),
                s.started.trace_id,
                s.last_step.span_name.as_str(),
                s.last_step.service.as_str(),
                s.last_step.start_unix_nano - t0,
                s.ids.clone(),
                s.traces.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "dm",
                "messaging.send",
                trace(t::LOST),
                "messaging.send",
                "pigeon-dm",
                101 * MS,
                vec!["m-2".to_owned()],
                vec![trace(t::LOST)],
            ),
            (
                "marker",
                "publish-message",
                trace(t::MARKER_STUCK),
                "process-message",
                "processor",
                304 * MS,
                vec!["corr-1".to_owned()],
                vec![trace(t::MARKER_STUCK)],
            ),
        ]
    );
    assert_eq!(stuck[0].waiting_ms, 120_000.0 - 101.0);

    // Before the deadline nothing is stuck yet.
    assert!(
        store
            .stuck(&FlowRule::defaults(), t0 + 1_000 * MS, 10)
            .is_empty()
    );
    // The limit is honoured.
    assert_eq!(store.stuck(&FlowRule::defaults(), now, 1).len(), 1);

    // The orders flow: terminal is the kitchen's span.
    let orders = |kitchen: &str| {
        FlowRule::new(
            "orders",
            SpanMatcher::prefix("send ").in_service("website"),
            SpanMatcher::name("process orders").in_service(kitchen),
            Duration::from_secs(10),
        )
    };
    assert!(store.stuck(&[orders("kitchen")], now, 10).is_empty());
    let wrong = store.stuck(&[orders("kitchen-service")], now, 10);
    assert_eq!(wrong.len(), 1);
    assert_eq!(wrong[0].last_step.span_name, "process orders");
    assert_eq!(wrong[0].ids, vec!["42".to_owned()]);
}

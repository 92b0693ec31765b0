//! `pigeon trace` as a person runs it, on a real data dir.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use pigeon_journey::{
    AttrValue, JourneyStore, KeyValue, SpanId, SpanKind, SpanRecord, Status, StoreConfig, TraceId,
};

fn span(id: u8, parent: Option<u8>, name: &str, service: &str, offset_ms: u64) -> SpanRecord {
    let start = pigeon_journey::now_unix_nano() + offset_ms * 1_000_000;
    SpanRecord {
        trace_id: TraceId([3; 16]),
        span_id: SpanId([id; 8]),
        parent_span_id: parent.map(|p| SpanId([p; 8])),
        name: name.into(),
        kind: SpanKind::Internal,
        service: service.into(),
        start_unix_nano: start,
        end_unix_nano: start + 2_000_000,
        status: Status::Unset,
        attributes: vec![KeyValue::new("order.id", AttrValue::Str("order-77".into()))],
        events: Vec::new(),
        links: Vec::new(),
        resource: Vec::new(),
    }
}

#[test]
fn prints_the_waterfall_and_the_json_of_a_journey_from_a_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store =
            JourneyStore::open(StoreConfig::default().with_data_dir(dir.path().join("journey")))
                .unwrap();
        store.ingest(vec![
            span(1, None, "send orders.validate", "website-ordering", 0),
            span(2, Some(1), "process orders.validate", "order-validation", 3),
        ]);
        store.drain().unwrap();
    }
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_pigeon"))
            .args(["trace", "order-77", "--data-dir"])
            .arg(dir.path())
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("journey order-77: 2 spans in 1 traces"),
        "{text}"
    );
    assert!(text.contains("send orders.validate"), "{text}");
    assert!(
        text.contains("  process orders.validate"),
        "indented child: {text}"
    );
    assert!(text.contains("order-validation"), "{text}");

    let out = run(&["--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["spans"].as_array().unwrap().len(), 2);

    let missing = Command::new(env!("CARGO_BIN_EXE_pigeon"))
        .args(["trace", "no-such-order", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no journey carries"));
}

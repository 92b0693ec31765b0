//! The receiver against real senders: the OpenTelemetry Python SDK's OTLP/HTTP exporter
//! (protobuf, plain and gzip), an OTLP/JSON body, and bad bodies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::process::Command;

use pigeon_journey::{JourneyOptions, JourneyStore, SpanId, TraceId};

async fn start(store: &JourneyStore) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = pigeon_otlp::router(store.ingestor());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// Python with the pinned OpenTelemetry packages, or `None` (outside CI) to skip.
fn python_ready() -> bool {
    let ok = Command::new("python3")
        .args([
            "-c",
            "import opentelemetry.exporter.otlp.proto.http, opentelemetry.sdk",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let msg = "python3 with tests/python/requirements.txt is needed (pip install -r crates/pigeon-otlp/tests/python/requirements.txt)";
        assert!(std::env::var("CI").is_err(), "{msg}");
        eprintln!("SKIPPED: {msg}");
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_spans_join_the_journey_of_a_message() {
    if !python_ready() {
        return;
    }
    for compression in ["none", "gzip"] {
        let store = JourneyStore::in_memory();
        let base = start(&store).await;
        let message_id = format!("msg-{compression}");
        // Our side of the trace: a span that carries the message id.
        let ours = pigeon_journey::SpanRecord {
            trace_id: TraceId([0x5a; 16]),
            span_id: SpanId([0x11; 8]),
            parent_span_id: None,
            name: "send billing".into(),
            kind: pigeon_journey::SpanKind::Producer,
            service: "pigeon".into(),
            start_unix_nano: pigeon_journey::now_unix_nano(),
            end_unix_nano: pigeon_journey::now_unix_nano(),
            status: pigeon_journey::Status::Unset,
            attributes: vec![pigeon_journey::KeyValue::new(
                "message.id",
                pigeon_journey::AttrValue::Str(message_id.clone()),
            )],
            events: Vec::new(),
            links: Vec::new(),
            resource: Vec::new(),
        };
        store.ingest(vec![ours]);
        let traceparent = format!("00-{}-{}-01", TraceId([0x5a; 16]), SpanId([0x11; 8]));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/export_spans.py");
        let out = tokio::task::spawn_blocking(move || {
            Command::new("python3")
                .args([
                    script,
                    &format!("{base}/v1/traces"),
                    &traceparent,
                    &message_id,
                    compression,
                ])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        store.drain().unwrap();
        let journey = store.journey(&format!("msg-{compression}"), &JourneyOptions::default());
        let names: Vec<_> = journey
            .spans
            .iter()
            .map(|s| (s.span.name.as_str(), s.span.service.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("send billing", "pigeon"),
                ("charge-order", "python-billing"),
                ("write-invoice", "python-billing")
            ],
            "{compression}"
        );
        let charge = &journey.spans[1].span;
        assert_eq!(
            charge.parent_span_id,
            Some(SpanId([0x11; 8])),
            "continues our span"
        );
        assert!(journey.spans[2].span.status.is_error());
    }
}

async fn post(
    base: &str,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/v1/traces"))
        .header("content-type", content_type)
        .body(body);
    if let Some(encoding) = encoding {
        request = request.header("content-encoding", encoding);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_json_with_hex_ids_is_stored_and_invalid_ids_are_counted() {
    let store = JourneyStore::in_memory();
    let base = start(&store).await;
    // Recent times: the store's age retention (24 h) would evict old ones at once.
    let start = pigeon_journey::now_unix_nano();
    let body = serde_json::json!({"resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "browser"}}]},
    "scopeSpans": [{"spans": [
        {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331", "name": "publish-message",
         "kind": 4, "startTimeUnixNano": start.to_string(), "endTimeUnixNano": (start + 5_000_000).to_string(),
         "attributes": [{"key": "CorrelationId", "value": {"stringValue": "mark-1"}}]},
        {"traceId": "", "spanId": "b7ad6b7169203332", "name": "bad ids"}
    ]}]}]});
    let (status, answer) = post(
        &base,
        "application/json",
        None,
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(
        answer["partialSuccess"]["rejectedSpans"]
            .as_i64()
            .or_else(|| answer["partialSuccess"]["rejectedSpans"]
                .as_str()
                .and_then(|s| s.parse().ok())),
        Some(1),
        "{answer}"
    );
    store.drain().unwrap();
    let journey = store.journey("mark-1", &JourneyOptions::default());
    assert_eq!(journey.spans.len(), 1);
    assert_eq!(journey.spans[0].span.service, "browser");
    assert_eq!(
        journey.spans[0].span.trace_id.to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_get_precise_errors_and_store_nothing() {
    let store = JourneyStore::in_memory();
    let base = start(&store).await;
    assert_eq!(post(&base, "text/plain", None, b"x".to_vec()).await.0, 415);
    assert_eq!(
        post(&base, "application/x-protobuf", Some("br"), b"x".to_vec())
            .await
            .0,
        415
    );
    assert_eq!(
        post(&base, "application/x-protobuf", None, vec![0xff; 64])
            .await
            .0,
        400
    );
    assert_eq!(
        post(&base, "application/json", None, b"{not json".to_vec())
            .await
            .0,
        400
    );
    assert_eq!(
        post(
            &base,
            "application/x-protobuf",
            Some("gzip"),
            b"not gzip".to_vec()
        )
        .await
        .0,
        400
    );
    // A gzip bomb: small on the wire, over the limit once inflated.
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    bomb.write_all(&vec![0u8; pigeon_otlp::MAX_BODY_BYTES + 1024])
        .unwrap();
    let bomb = bomb.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    assert_eq!(
        post(&base, "application/x-protobuf", Some("gzip"), bomb)
            .await
            .0,
        413
    );
    store.drain().unwrap();
    assert_eq!(store.stats().spans, 0);
}

/// A page served from another origin may export here: the preflight is answered for POST with
/// the OTLP headers, and the answer to the POST itself allows any origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_on_other_origins_may_export() {
    let store = JourneyStore::in_memory();
    let base = start(&store).await;
    let client = reqwest::Client::new();
    let preflight = client
        .request(reqwest::Method::OPTIONS, format!("{base}/v1/traces"))
        .header("origin", "http://127.0.0.1:8080")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let allowed = |name: &str| {
        preflight
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    assert_eq!(allowed("access-control-allow-origin"), "*");
    assert!(allowed("access-control-allow-methods").contains("post"));
    assert!(allowed("access-control-allow-headers").contains("content-type"));
    let response = client
        .post(format!("{base}/v1/traces"))
        .header("origin", "http://127.0.0.1:8080")
        .header("content-type", "application/json")
        .body(r#"{"resourceSpans":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response
            .headers()
            .get("access-control-allow-origin")
            .unwrap(),
        "*"
    );
}

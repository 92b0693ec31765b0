//! The journey web UI as an operator uses it: a real `pigeon serve`, real DM traffic from the
//! client SDK (its spans exported over OTLP to the server, as an app's would be), a push relay
//! reporting a failed attempt over OTLP (a span linking to the send, with events and an error
//! status: a DM alone makes neither), then headless Chromium drives `/ui` through
//! `tests-web/journey-ui.mjs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use pigeon_client::{Client, Event};
use pigeon_telemetry::TelemetryConfig;
use serde_json::{Value, json};

mod support;

/// The deadline the UI's stuck list is asked to use, so the never-acked send shows in a second.
const STUCK_AFTER_MS: u64 = 1_000;

/// The steps of a delivered DM, from the client's send to the recipient's receipt.
const DM_STEPS: [&str; 10] = [
    "messaging.send",
    "messaging.encrypt",
    "POST /v1/messages",
    "messaging.persist",
    "send dm.deliver",
    "process dm.deliver",
    "messaging.deliver",
    "messaging.deliver_websocket",
    "messaging.delivery_receipt",
    "push.send",
];

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn get(url: &str) -> (u16, Value) {
    block_on(async {
        let response = reqwest::get(url).await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or_default())
    })
}

fn post_json(url: &str, body: &Value) -> u16 {
    block_on(async {
        reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

/// Polls the journey API until `id`'s journey has every span in `names`.
fn wait_for_journey(base: &str, id: &str, names: &[&str]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, journey) = get(&format!("{base}/api/v1/journeys/{id}"));
        if status == 200 && names.iter().all(|n| span(&journey, n).is_some()) {
            return journey;
        }
        assert!(
            Instant::now() < deadline,
            "the journey of {id} never had all of {names:?}: {journey}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The journey of `id` once no span has joined it for half a second (spans of connections
/// closed at the end of the traffic may still arrive), so the browser sees what this test saw.
fn settled(base: &str, id: &str) -> Value {
    let url = format!("{base}/api/v1/journeys/{id}");
    let mut last = get(&url).1;
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = get(&url).1;
        if now["spans"].as_array().map(Vec::len) == last["spans"].as_array().map(Vec::len) {
            return now;
        }
        last = now;
    }
}

/// The first span named `name` in a journey.
fn span<'a>(journey: &'a Value, name: &str) -> Option<&'a Value> {
    journey["spans"]
        .as_array()?
        .iter()
        .map(|s| &s["span"])
        .find(|s| s["name"] == name)
}

/// Alice sends to Bob, who is online and acks (so the server records the delivery receipt);
/// then to Carol, who never connects. Returns both message ids.
async fn traffic(base: &str) -> (String, String) {
    let alice = Client::register(base, "alice", "phone").await.unwrap();
    let bob = Client::register(base, "bob", "laptop").await.unwrap();
    Client::register(base, "carol", "tablet").await.unwrap();
    let mut bob_live = bob.connect().await.unwrap();
    let bob_id = alice.find_user("bob").await.unwrap();
    let delivered = alice.send_text(&bob_id, "hello bob").await.unwrap();
    let arrived = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Event::Message { message_id, .. } = bob_live.next_event().await.unwrap() {
                return message_id;
            }
        }
    })
    .await
    .expect("bob got the message");
    assert_eq!(arrived, delivered.message_id);
    let carol_id = alice.find_user("carol").await.unwrap();
    let unacked = alice.send_text(&carol_id, "carol?").await.unwrap();
    bob_live.close().await;
    (delivered.message_id, unacked.message_id)
}

/// A push relay's failed attempt for `message_id`, as OTLP/JSON: its own trace, linked to the
/// send, two events, error status.
fn push_attempt(message_id: &str, send: &Value, after_ns: u64) -> Value {
    let at = |ms: u64| (after_ns + ms * 1_000_000).to_string();
    let attr = |k: &str, v: &str| json!({"key": k, "value": {"stringValue": v}});
    json!({"resourceSpans": [{
        "resource": {"attributes": [attr("service.name", "push-relay"), attr("host.name", "relay-1")]},
        "scopeSpans": [{"spans": [{
            "traceId": "5ce0e9a56015fec5aadfa328ae398115",
            "spanId": "00f067aa0ba902b7",
            "name": "push.send",
            "kind": 3,
            "startTimeUnixNano": at(1),
            "endTimeUnixNano": at(9),
            "attributes": [attr("message.id", message_id), attr("push.gateway", "fcm")],
            "events": [
                {"timeUnixNano": at(2), "name": "gateway.request", "attributes": [attr("http.request.method", "POST")]},
                {"timeUnixNano": at(8), "name": "gateway.timeout", "attributes": []}
            ],
            "links": [{"traceId": send["trace_id"], "spanId": send["span_id"], "attributes": [attr("link.reason", "notifies")]}],
            "status": {"code": 2, "message": "push gateway timed out"}
        }]}]
    }]})
}

#[test]
fn the_journey_ui_shows_a_real_dm_journey_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let server = support::Serve::start(
        dir.path(),
        "127.0.0.1:0",
        &[("OTEL_SERVICE_NAME", "pigeon")],
    );
    let base = server.url();
    let telemetry = pigeon_telemetry::init(
        TelemetryConfig::default()
            .with_service_name("pigeon-app")
            .with_otlp_endpoint(base.clone())
            .with_log_filter("warn"),
    )
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (delivered, unacked) = runtime.block_on(traffic(&base));
    telemetry.force_flush().unwrap();

    let journey = wait_for_journey(&base, &delivered, &DM_STEPS[..9]);
    let send = span(&journey, "messaging.send").unwrap().clone();
    let receipt_end = span(&journey, "messaging.delivery_receipt").unwrap()["end_unix_nano"]
        .as_u64()
        .unwrap();
    let status = post_json(
        &format!("{base}/v1/traces"),
        &push_attempt(&delivered, &send, receipt_end),
    );
    assert_eq!(status, 200);
    wait_for_journey(&base, &delivered, &DM_STEPS);
    wait_for_journey(&base, &unacked, &["messaging.send"]);
    let journey = settled(&base, &delivered);

    let names: Vec<&str> = journey["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["span"]["name"].as_str().unwrap())
        .collect();
    let screenshot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-journey.png");
    let expected = json!({
        "names": names,
        "send": send["span_id"],
        "services": ["pigeon", "pigeon-app", "push-relay"],
        "stuck_after_ms": STUCK_AFTER_MS,
    })
    .to_string();
    std::thread::sleep(Duration::from_millis(STUCK_AFTER_MS));
    let Some(out) = support::browser_script(
        "journey-ui.mjs",
        &[
            &base,
            &delivered,
            &unacked,
            screenshot.to_str().unwrap(),
            &expected,
        ],
    ) else {
        return;
    };
    assert!(out.contains("journey-ui: ok"), "{out}");
    assert!(
        screenshot.exists(),
        "screenshot at {}",
        screenshot.display()
    );
    println!("{out}screenshot: {}", screenshot.display());
}

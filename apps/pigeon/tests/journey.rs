//! `pigeon journey` as a collector target: a `pigeon serve` process exports its spans to it
//! over OTLP/HTTP (protobuf, through the standard `OTEL_*` variables), the journey API serves
//! them, `pigeon trace --server` draws them, and a restart on the same data dir keeps them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::Serve;

fn journey_store(dir: &std::path::Path) -> Serve {
    Serve::spawn(
        &[
            "journey",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.to_str().unwrap(),
        ],
        &[],
    )
}

async fn trace_spans(base: &str, trace_id: &str) -> Vec<serde_json::Value> {
    let Ok(response) = reqwest::get(format!("{base}/api/v1/traces/{trace_id}")).await else {
        return Vec::new();
    };
    let body = response.bytes().await.unwrap_or_default();
    serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v.as_array()
                .cloned()
                .or_else(|| v["spans"].as_array().cloned())
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_exported_by_a_server_are_found_drawn_and_kept_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let journeys_dir = dir.path().join("journeys");
    let journeys = journey_store(&journeys_dir);
    let endpoint = journeys.url();
    let server_dir = dir.path().join("server");
    let server = Serve::start(
        &server_dir,
        "127.0.0.1:0",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_SERVICE_NAME", "pigeon-node-a"),
        ],
    );
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = reqwest::Client::new()
        .post(format!("{}/v1/accounts", server.url()))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .header("content-type", "application/json")
        .body(r#"{"username":"dora","device_name":"laptop"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);

    let deadline = Instant::now() + Duration::from_secs(30);
    let spans = loop {
        let spans = trace_spans(&endpoint, trace_id).await;
        if spans.iter().any(|s| s["name"] == "POST /v1/accounts") {
            break spans;
        }
        assert!(
            Instant::now() < deadline,
            "the server's spans did not reach the journey store in 30 s: {spans:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let request = spans
        .iter()
        .find(|s| s["name"] == "POST /v1/accounts")
        .unwrap();
    assert_eq!(request["service"], "pigeon-node-a");
    assert_eq!(request["parent_span_id"], "00f067aa0ba902b7");

    // The terminal view, from the running store.
    let drawn = Command::new(env!("CARGO_BIN_EXE_pigeon"))
        .args(["trace", trace_id, "--server", &endpoint])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&drawn.stdout);
    assert!(
        drawn.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&drawn.stderr)
    );
    assert!(
        text.contains("POST /v1/accounts") && text.contains("pigeon-node-a"),
        "{text}"
    );

    // Stopped with SIGTERM and started again on the same data dir: the trace is still there.
    drop(server);
    let pid = journeys.pid().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let mut journeys = journeys;
    assert!(
        journeys
            .wait_exit(Duration::from_secs(20))
            .is_some_and(|s| s.success()),
        "pigeon journey stops cleanly on SIGTERM"
    );
    let again = journey_store(&journeys_dir);
    let kept = trace_spans(&again.url(), trace_id).await;
    assert!(
        kept.iter().any(|s| s["name"] == "POST /v1/accounts"),
        "after a restart: {kept:?}"
    );
}

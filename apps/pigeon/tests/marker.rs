//! The marker pipeline as a person uses it: `pigeon demo marker` serving the page, headless
//! Chromium (playwright-core) typing and creating a mark. The mark is persisted once, with
//! `processed: true`, and the journey API shows the whole trace — the browser's
//! `publish-message` (exported by the OpenTelemetry JS SDK to `/v1/traces`) as its root,
//! then every hop to `persist-message` — in both carriers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use support::{Serve, browser_script};

async fn journey(base: &str, id: &str) -> Option<serde_json::Value> {
    let response = reqwest::get(format!("{base}/api/v1/journeys/{id}"))
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    serde_json::from_slice(&response.bytes().await.ok()?).ok()
}

async fn the_page_starts_one_trace_that_ends_in_the_file(carrier: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("messages.jsonl");
    let file_arg = file.to_str().unwrap();
    let demo = Serve::spawn(
        &[
            "demo",
            "marker",
            "--listen",
            "127.0.0.1:0",
            "--file",
            file_arg,
            "--carrier",
            carrier,
        ],
        &[],
    );
    let shot =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("marker-{carrier}.png"));
    let Some(out) = browser_script(
        "marker.mjs",
        &[
            &demo.url(),
            "a mark from the browser",
            shot.to_str().unwrap(),
        ],
    ) else {
        return;
    };
    let printed: serde_json::Value =
        serde_json::from_str(out.trim().lines().last().unwrap()).unwrap();
    let id = printed["id"].as_str().unwrap().to_owned();
    let trace_id = printed["trace_id"].as_str().unwrap().to_owned();

    let expected = [
        ("publish-message", "marker"),
        ("send internal", "marker-gateway"),
        ("process internal", "processor"),
        ("process-message", "processor"),
        ("send external", "processor"),
        ("process external", "persister"),
        ("persist-message", "persister"),
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    let spans = loop {
        let spans: Vec<serde_json::Value> = journey(&demo.url(), &id)
            .await
            .and_then(|j| j["spans"].as_array().cloned())
            .unwrap_or_default();
        let complete = expected
            .iter()
            .all(|(name, _)| spans.iter().any(|s| s["span"]["name"] == *name));
        if complete {
            break spans;
        }
        assert!(
            Instant::now() < deadline,
            "the journey of {id} is incomplete after 30 s: {:?}",
            spans
                .iter()
                .map(|s| s["span"]["name"].clone())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // One trace, each step the child of the one before, each by its own service.
    let mut parent: Option<String> = None;
    for (name, service) in expected {
        let span = spans
            .iter()
            .map(|s| &s["span"])
            .find(|s| s["name"] == name)
            .unwrap();
        assert_eq!(
            span["trace_id"],
            trace_id.as_str(),
            "{name} in the browser's trace"
        );
        assert_eq!(span["service"], service, "{name}'s service");
        if let Some(parent) = &parent {
            assert_eq!(span["parent_span_id"], parent.as_str(), "{name}'s parent");
        }
        parent = Some(span["span_id"].as_str().unwrap().to_owned());
    }

    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["id"], id.as_str());
    assert_eq!(lines[0]["text"], "a mark from the browser");
    assert_eq!(lines[0]["processed"], true);
}

#[tokio::test]
async fn browser_mark_with_context_in_headers() {
    the_page_starts_one_trace_that_ends_in_the_file("headers").await;
}

#[tokio::test]
async fn browser_mark_with_context_in_a_correlation_id_field() {
    the_page_starts_one_trace_that_ends_in_the_file("correlation-id").await;
}

//! The pipeline as three `marker` processes (web, processor, persister) over a real NATS
//! JetStream server, each exporting its spans over OTLP/HTTP to a journey store in this test:
//! every mark posted with a trace context lands once in the file, and its journey holds every
//! hop in that one trace, with each process's own `service.name`; in both carriers.
//!
//! Needs NATS with JetStream on 127.0.0.1:4222 (override with `MARKER_TEST_NATS`). Without it
//! the test is skipped with a message, except in CI (`CI=true`), where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pigeon_journey::{JourneyOptions, JourneyStore};

fn nats_url() -> String {
    std::env::var("MARKER_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// Whether NATS answers; in CI a missing server is a failure, elsewhere a skip.
fn nats_available(url: &str) -> bool {
    let up = url
        .trim_start_matches("nats://")
        .parse()
        .ok()
        .and_then(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).ok())
        .is_some();
    if !up {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "NATS is not reachable at {url}, and CI=true requires it"
        );
        eprintln!(
            "SKIPPED: NATS is not reachable at {url}; start nats-server -js to run this test"
        );
    }
    up
}

/// A `marker` process: stopped with SIGTERM (so it flushes its spans) by [`Part::stop`], killed
/// if the test fails first.
struct Part(Child);

impl Part {
    fn spawn(args: &[&str], carrier: &str, prefix: &str, otlp: &str) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_marker"))
            .args(args)
            .args([
                "--bus",
                &nats_url(),
                "--prefix",
                prefix,
                "--carrier",
                carrier,
            ])
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp)
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
            .env_remove("OTEL_SERVICE_NAME")
            .env_remove("OTEL_SDK_DISABLED")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Self(child)
    }

    /// Waits for the log line containing `needle` and returns it.
    fn wait_for_line(&mut self, needle: &str) -> String {
        let stderr = self.0.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let needle = needle.to_owned();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && line.contains(&needle) {
                    let _ = tx.send(line);
                    sent = true;
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(30))
            .expect("the process logged it within 30 s")
    }

    fn stop(mut self) {
        let pid = self.0.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.0.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "did not stop within 20 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Part {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn three_processes_one_trace_per_mark(carrier: &str) {
    let url = nats_url();
    if !nats_available(&url) {
        return;
    }
    let journeys = JourneyStore::in_memory();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp = format!("http://{}", listener.local_addr().unwrap());
    let app = pigeon_otlp::router(journeys.ingestor());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("messages.jsonl");
    let prefix = format!("test-{}", uuid::Uuid::now_v7().simple());
    let persister = Part::spawn(
        &["persister", "--file", file.to_str().unwrap()],
        carrier,
        &prefix,
        &otlp,
    );
    let processor = Part::spawn(&["processor"], carrier, &prefix, &otlp);
    let mut web = Part::spawn(&["web", "--listen", "127.0.0.1:0"], carrier, &prefix, &otlp);
    let line = web.wait_for_line("listen=");
    let addr = line
        .split("listen=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();

    // Each mark comes with a trace context, as the page sends it.
    let client = reqwest::Client::new();
    let mut marks = Vec::new();
    for n in 0..5 {
        let trace_id = uuid::Uuid::now_v7().simple().to_string();
        let parent = format!("{:016x}", 0x1000 + n);
        let id = format!("{prefix}-{n}");
        let mut body = serde_json::json!({ "id": id, "text": format!("mark {n}") });
        let mut request = client
            .post(format!("http://{addr}/marker/api/marks"))
            .header("content-type", "application/json");
        let traceparent = format!("00-{trace_id}-{parent}-01");
        if carrier == "correlation-id" {
            body["CorrelationId"] = traceparent.into();
        } else {
            request = request.header("traceparent", traceparent);
        }
        let response = request.body(body.to_string()).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 202);
        marks.push((id, trace_id, parent));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while lines(&file).len() < marks.len() {
        assert!(
            Instant::now() < deadline,
            "only {} lines after 60 s",
            lines(&file).len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for part in [web, processor, persister] {
        part.stop();
    }
    journeys.drain().unwrap();

    let written = lines(&file);
    assert_eq!(written.len(), marks.len(), "each mark once");
    for (id, trace_id, browser_span) in &marks {
        let line = written.iter().find(|l| l["id"] == id.as_str()).unwrap();
        assert_eq!(line["processed"], true);
        let journey = journeys.journey(id, &JourneyOptions::default());
        let spans: Vec<_> = journey
            .spans
            .iter()
            .map(|s| &s.span)
            .filter(|s| s.trace_id.to_string() == *trace_id)
            .collect();
        let expected = [
            ("send", "marker-gateway"),
            ("process", "processor"),
            ("process-message", "processor"),
            ("send", "processor"),
            ("process", "persister"),
            ("persist-message", "persister"),
        ];
        let mut parent = browser_span.clone();
        for (name, service) in expected {
            let span = spans
                .iter()
                .find(|s| {
                    s.name.starts_with(name)
                        && s.service == service
                        && s.parent_span_id.map(|p| p.to_string()) == Some(parent.clone())
                })
                .unwrap_or_else(|| {
                    panic!(
                        "{id}: no {name} of {service} under {parent}; have {:?}",
                        spans
                            .iter()
                            .map(|s| (&s.name, &s.service, s.parent_span_id))
                            .collect::<Vec<_>>()
                    )
                });
            parent = span.span_id.to_string();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_in_headers_across_processes() {
    three_processes_one_trace_per_mark("headers").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_in_a_correlation_id_field_across_processes() {
    three_processes_one_trace_per_mark("correlation-id").await;
}

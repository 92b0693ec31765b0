//! The pipeline as separate `orders` processes over a real NATS JetStream server: each service
//! its own process, context carried only in bus headers. Every order website-ordering (and
//! direct-kitchen-ordering) logs as placed must come out of the kitchen in the same trace.
//!
//! Needs NATS with JetStream on 127.0.0.1:4222 (override with `ORDERS_TEST_NATS`). Without it
//! the test is skipped with a message, except in CI (`CI=true`), where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use example_orders::ReadyRecord;

fn nats_url() -> String {
    std::env::var("ORDERS_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// Whether NATS answers; in CI a missing server is a failure, elsewhere a skip.
fn nats_available(url: &str) -> bool {
    let addr = url.trim_start_matches("nats://");
    let up = addr
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

/// A service process, killed when dropped (even if the test fails).
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn orders(args: &[&str], prefix: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orders"));
    cmd.args(args)
        .args(["--bus", &nats_url(), "--topic-prefix", prefix])
        .args(["--time-scale", "0.02", "--run-for", "60s"])
        .env("OTEL_TRACES_EXPORTER", "none")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("OTEL_SERVICE_NAME")
        .env("PIGEON_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    cmd
}

fn spawn(args: &[&str], prefix: &str, log: &Path) -> Service {
    let file = std::fs::File::create(log).unwrap();
    let child = orders(args, prefix)
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .unwrap();
    Service(child)
}

/// Order id → trace id of every "Placing …" line in a JSON log.
fn placed_orders(output: &Output) -> HashMap<String, String> {
    let mut placed = HashMap::new();
    for line in output.stderr.lines().chain(output.stdout.lines()) {
        let line = line.unwrap();
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let message = json["fields"]["message"].as_str().unwrap_or_default();
        if !message.starts_with("Placing") {
            continue;
        }
        let order_id = json["fields"]["order_id"].as_str().expect("order_id field");
        assert!(message.contains(order_id), "{message}");
        let trace_id = json["trace_id"].as_str().expect("trace_id on the line");
        assert!(json["fields"]["service"].is_string(), "{line}");
        placed.insert(order_id.to_owned(), trace_id.to_owned());
    }
    placed
}

fn read_ready(path: &Path) -> HashMap<String, ReadyRecord> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return HashMap::new();
    };
    text.lines()
        .filter(|l| l.ends_with('}'))
        .map(|l| serde_json::from_str::<ReadyRecord>(l).unwrap())
        .map(|r| (r.order_id.to_string(), r))
        .collect()
}

fn run_to_end(args: &[&str], prefix: &str) -> Output {
    let child = orders(args, prefix)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn separate_processes_over_nats_keep_one_trace_per_order() {
    let url = nats_url();
    if !nats_available(&url) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!(
        "test-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let ready_log = dir.path().join("ready.jsonl");
    let ready_arg = ready_log.to_str().unwrap();

    let _kitchen = spawn(
        &["kitchen-service", "--ready-log", ready_arg],
        &prefix,
        &dir.path().join("kitchen.log"),
    );
    let _validation = spawn(
        &["order-validation"],
        &prefix,
        &dir.path().join("validation.log"),
    );

    let website = run_to_end(
        &[
            "website-ordering",
            "--orders",
            "5",
            "--website-every",
            "50ms",
        ],
        &prefix,
    );
    let direct = run_to_end(
        &[
            "direct-kitchen-ordering",
            "--orders",
            "2",
            "--direct-every",
            "50ms",
        ],
        &prefix,
    );
    let mut placed = placed_orders(&website);
    assert_eq!(placed.len(), 5, "website-ordering logged five orders");
    let direct = placed_orders(&direct);
    assert_eq!(direct.len(), 2, "direct-kitchen-ordering logged two orders");
    placed.extend(direct);

    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = loop {
        let ready = read_ready(&ready_log);
        if placed.keys().all(|id| ready.contains_key(id)) || Instant::now() > deadline {
            break ready;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for (order_id, trace_id) in &placed {
        let record = ready.get(order_id).unwrap_or_else(|| {
            panic!(
                "order {order_id} never came out of the kitchen; kitchen log:\n{}\nvalidation log:\n{}",
                std::fs::read_to_string(dir.path().join("kitchen.log")).unwrap_or_default(),
                std::fs::read_to_string(dir.path().join("validation.log")).unwrap_or_default(),
            )
        });
        assert_eq!(
            &record.trace_id, trace_id,
            "order {order_id} changed traces on its way"
        );
    }
    // Every kitchen log line about an order carries that order's trace.
    let kitchen_log = std::fs::read_to_string(dir.path().join("kitchen.log")).unwrap();
    let mut ready_lines = 0;
    for line in kitchen_log.lines() {
        let Ok(json) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(order_id) = json["fields"]["order_id"].as_str() else {
            continue;
        };
        assert_eq!(json["fields"]["service"], "kitchen-service");
        if let Some(trace_id) = placed.get(order_id) {
            assert_eq!(json["trace_id"].as_str(), Some(trace_id.as_str()), "{line}");
            ready_lines += usize::from(
                json["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("Your order is ready")),
            );
        }
    }
    assert_eq!(ready_lines, placed.len());
}

//! `pigeon serve` as a newcomer runs it: a real process, real HTTP on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

mod support;

use support::Serve;

fn start(data_dir: &std::path::Path) -> Serve {
    Serve::start(data_dir, "127.0.0.1:0", &[])
}

fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

fn post(addr: &str, path: &str, json: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

#[test]
fn the_dm_api_is_served_and_keeps_its_data_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (status, body) = post(
        &server.addr,
        "/v1/accounts",
        r#"{"username":"ada","device_name":"phone"}"#,
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = get(&server.addr, "/v1/push/vapid");
    assert_eq!(status, 200, "{body}");
    let key = body.clone();
    drop(server);

    let server = start(dir.path());
    let (status, body) = post(
        &server.addr,
        "/v1/accounts",
        r#"{"username":"ada","device_name":"tablet"}"#,
    );
    assert_eq!(status, 409, "the account survived the restart: {body}");
    assert_eq!(
        get(&server.addr, "/v1/push/vapid").1,
        key,
        "the VAPID key is kept"
    );
}

#[test]
fn spans_posted_over_otlp_show_in_the_journey_api_and_pigeon_trace() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let body = format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"marker"}}}}]}},"scopeSpans":[{{"spans":[{{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"publish-message","kind":4,"startTimeUnixNano":"{now}","endTimeUnixNano":"{}","attributes":[{{"key":"CorrelationId","value":{{"stringValue":"mark-9"}}}}]}}]}}]}}]}}"#,
        now + 1_000_000
    );
    let (status, answer) = post(&server.addr, "/v1/traces", &body);
    assert_eq!(status, 200, "{answer}");
    std::thread::sleep(Duration::from_millis(500));
    let (status, journey) = get(&server.addr, "/api/v1/journeys/mark-9");
    assert_eq!(status, 200, "{journey}");
    assert!(
        journey.contains("publish-message") && journey.contains("marker"),
        "{journey}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_pigeon"))
        .args([
            "trace",
            "mark-9",
            "--server",
            &format!("http://{}", server.addr),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("publish-message"));
}

/// The value of the first sample of `name` in Prometheus text whose labels contain `label`.
fn sample(metrics: &str, name: &str, label: &str) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{') && l.contains(label))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn metrics_count_the_stores_group_commits_and_the_requests_they_carry() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let committed = r#"commit_outcome="committed""#;
    let before = get(&server.addr, "/metrics").1;
    let commits_before = sample(
        &before,
        "pigeon_store_commit_duration_seconds_count",
        committed,
    )
    .unwrap_or(0.0);
    for name in ["ada", "grace", "alan"] {
        let body = format!(r#"{{"username":"{name}","device_name":"phone"}}"#);
        let (status, body) = post(&server.addr, "/v1/accounts", &body);
        assert_eq!(status, 201, "{body}");
    }
    let metrics = get(&server.addr, "/metrics").1;
    let commits = sample(
        &metrics,
        "pigeon_store_commit_duration_seconds_count",
        committed,
    )
    .unwrap_or_else(|| panic!("no commit duration in {metrics}"));
    let requests = sample(&metrics, "pigeon_store_commit_requests_sum", committed)
        .unwrap_or_else(|| panic!("no requests a commit in {metrics}"));
    let seconds = sample(
        &metrics,
        "pigeon_store_commit_duration_seconds_sum",
        committed,
    )
    .unwrap_or_else(|| panic!("no commit time in {metrics}"));
    // Three registrations answered one after the other: each waited for its own commit.
    assert!(
        commits >= commits_before + 3.0,
        "{commits} after {commits_before}"
    );
    assert!(
        requests >= commits,
        "every commit carried a request: {requests} < {commits}"
    );
    assert!(seconds > 0.0, "commits take time: {seconds}");
    assert!(
        metrics.contains(r#"db_system="sqlite""#),
        "the store is named: {metrics}"
    );
}

#[test]
fn serves_health_readiness_and_metrics_then_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path());
    assert_eq!(get(&server.addr, "/healthz"), (200, "ok\n".into()));
    assert_eq!(get(&server.addr, "/readyz").0, 200);
    let (status, metrics) = get(&server.addr, "/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("pigeon_spans_dropped_total"), "{metrics}");
    assert_eq!(get(&server.addr, "/no-such-page").0, 404);
    assert!(
        dir.path().join("bus").join("bus.log").exists(),
        "durable bus log in the data dir"
    );

    let pid = server.pid().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = server
        .wait_exit(Duration::from_secs(20))
        .expect("pigeon serve stops on SIGTERM");
    assert!(status.success(), "clean exit, got {status}");
}

#[test]
fn a_config_file_with_an_unknown_key_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pigeon.toml");
    std::fs::write(&config, "listne = \"127.0.0.1:1\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pigeon"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("listne"), "{stderr}");
}

/// Nodes given the same `--vapid-key` file sign Web Push with the same key (push services
/// accept only the key a subscription was made with); without it each data dir has its own.
#[test]
fn nodes_sharing_a_vapid_key_file_offer_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared-vapid.key");
    let shared = shared.to_str().unwrap();
    let key_of = |serve: &Serve| {
        let (status, body) = get(&serve.addr, "/v1/push/vapid");
        assert_eq!(status, 200, "{body}");
        body
    };
    let node = |name: &str, extra: &[&str]| {
        let data = dir.path().join(name);
        let mut args = vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        Serve::spawn(&args, &[])
    };
    let a = node("a", &["--vapid-key", shared]);
    let key_a = key_of(&a);
    let b = node("b", &["--vapid-key", shared]);
    assert_eq!(
        key_of(&b),
        key_a,
        "the second node loads the file the first made"
    );
    let own = node("c", &[]);
    assert_ne!(
        key_of(&own),
        key_a,
        "a node without --vapid-key makes its own"
    );
    assert!(dir.path().join("c/vapid.key").exists());
}

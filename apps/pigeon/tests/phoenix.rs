#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Pigeon's OTLP export against a real third-party backend: Arize Phoenix (the version pinned in
//! `tests/python/requirements.txt`) runs on loopback with SQLite storage, a real `pigeon serve`
//! exports to it — once over OTLP/HTTP protobuf, once over OTLP/gRPC — while people register
//! and send a DM through it, and then Phoenix's REST API holds exactly the spans Pigeon's own
//! journey store (`/api/v1/search`, `/api/v1/traces/{id}`) holds: the same trace ids, span ids,
//! parent ids, names, start and end times, status and attributes, and a trace context that a
//! caller sent in `traceparent` is continued on both sides; and Pigeon counts no span dropped.
//!
//! Why: Pigeon's own tests of its exporter can only show that Pigeon agrees with itself. An
//! independent OTLP implementation decoding the bytes is what shows that the wire format, the
//! endpoint path (`/v1/traces` appended for HTTP, none for gRPC), the protocol switch
//! (`OTEL_EXPORTER_OTLP_PROTOCOL`) and the resource are right.
//!
//! Phoenix keeps no resource attributes but one: `openinference.project.name` chooses the
//! project a span lands in ("default" without it). So the resource is checked through it: the
//! test names the project after the service (`OTEL_SERVICE_NAME` and
//! `OTEL_RESOURCE_ATTRIBUTES=openinference.project.name=…`), Pigeon's journey store shows both
//! on every span, and Phoenix files every span under that project.
//!
//! Phoenix runs offline: telemetry, external resources, the agent assistant and the MCP server
//! are switched off, and its gRPC listener (which Phoenix binds on every interface) is moved to
//! 127.0.0.1. Without Arize Phoenix installed the test fails when `CI=true` and skips
//! otherwise (`./scripts/test` installs it).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use pigeon_journey::{AttrValue, SpanRecord, Status, TraceSummary};
use serde_json::Value;

mod support;

/// How long Phoenix may take to start (imports and SQLite migrations; seconds on an idle
/// machine, more when the build shares the cores).
const PHOENIX_START: Duration = Duration::from_secs(180);

/// How long spans may take to travel from `pigeon serve` to Phoenix and be stored there.
const DELIVERY: Duration = Duration::from_secs(60);

/// Runs Phoenix's own entry point after moving its gRPC listener from `[::]` to 127.0.0.1.
const LAUNCHER: &str = r#"
import sys
import grpc.aio._server as server

add_insecure_port = server.Server.add_insecure_port

def loopback_only(self, address):
    return add_insecure_port(self, address.replace("[::]", "127.0.0.1", 1))

server.Server.add_insecure_port = loopback_only
sys.argv = ["phoenix", "serve"]
from phoenix.server.main import main
main()
"#;

/// Phoenix as a child process on free loopback ports, its working dir (and SQLite database) in
/// a temp dir; killed and reaped when dropped.
struct Phoenix {
    child: Child,
    http_port: u16,
    grpc_port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Phoenix {
    /// Starts Phoenix and waits until its HTTP API answers and its gRPC port accepts.
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("phoenix.log");
        let (http_port, grpc_port) = free_ports();
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("python3")
            .args(["-c", LAUNCHER])
            .current_dir(dir.path())
            .env("PHOENIX_HOST", "127.0.0.1")
            .env("PHOENIX_PORT", http_port.to_string())
            .env("PHOENIX_GRPC_PORT", grpc_port.to_string())
            .env("PHOENIX_WORKING_DIR", dir.path())
            .env("PHOENIX_TELEMETRY_ENABLED", "false")
            .env("PHOENIX_ALLOW_EXTERNAL_RESOURCES", "false")
            .env("PHOENIX_DISABLE_AGENT_ASSISTANT", "true")
            .env("PHOENIX_ENABLE_MCP_SERVER", "false")
            .env("PHOENIX_LOG_MIGRATIONS", "false")
            .env_remove("PHOENIX_SQL_DATABASE_URL")
            .env_remove("PHOENIX_COLLECTOR_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("python3 starts");
        let mut phoenix = Self {
            child,
            http_port,
            grpc_port,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + PHOENIX_START;
        loop {
            if let Some(status) = phoenix.child.try_wait().unwrap() {
                panic!("Phoenix exited with {status}:\n{}", phoenix.log_text());
            }
            let http_ok = http(&phoenix.http_addr(), "GET", "/healthz", &[], "")
                .is_some_and(|(status, _)| status == 200);
            if http_ok && TcpStream::connect(phoenix.grpc_addr()).is_ok() {
                return phoenix;
            }
            assert!(
                Instant::now() < deadline,
                "Phoenix did not answer within {PHOENIX_START:?}:\n{}",
                phoenix.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn http_addr(&self) -> String {
        format!("127.0.0.1:{}", self.http_port)
    }

    fn grpc_addr(&self) -> String {
        format!("127.0.0.1:{}", self.grpc_port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Every span Phoenix stored in `project`, by (trace id, span id); empty while the project
    /// does not exist yet. Read through `GET /v1/projects/{project}/spans/otlpv1` (spans in
    /// OTLP's shape: hex ids, unix nanoseconds, flat attributes), page by page.
    fn spans(&self, project: &str) -> BTreeMap<(String, String), Value> {
        let mut spans = BTreeMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/v1/projects/{project}/spans/otlpv1?limit=1000");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={}", percent_encode(c)));
            }
            let (status, body) = http(&self.http_addr(), "GET", &path, &[], "")
                .expect("Phoenix answers while running");
            if status == 404 {
                return spans;
            }
            assert_eq!(status, 200, "GET {path} on Phoenix: {body}");
            let page: Value = serde_json::from_str(&body).unwrap();
            for span in page["data"].as_array().unwrap() {
                let key = (
                    span["trace_id"].as_str().unwrap().to_owned(),
                    span["span_id"].as_str().unwrap().to_owned(),
                );
                spans.insert(key, span.clone());
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return spans,
            }
        }
    }
}

impl Drop for Phoenix {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two distinct free ports on 127.0.0.1 (both listeners are held until both are chosen).
fn free_ports() -> (u16, u16) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One HTTP/1.1 request on a fresh connection; `None` if nothing listens yet.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.get(9..12)?.parse().ok()?;
    let chunked = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"));
    Some((
        status,
        if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        },
    ))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// `pigeon chat --profile PROFILE ARGS…`; panics unless it succeeds.
fn chat(profile: &Path, args: &[&str]) -> String {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_pigeon"))
        .arg("chat")
        .arg("--profile")
        .arg(profile)
        .args(args)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pigeon chat {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every span of `service` in Pigeon's journey store, found with `/api/v1/search` and read with
/// `/api/v1/traces/{trace_id}`, by (trace id, span id).
fn journey_spans(server: &support::Serve, service: &str) -> BTreeMap<(String, String), SpanRecord> {
    let (status, body) = http(
        &server.addr,
        "GET",
        &format!("/api/v1/search?service={service}&limit=1000"),
        &[],
        "",
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let traces: Vec<TraceSummary> = serde_json::from_str(&body).unwrap();
    let mut spans = BTreeMap::new();
    for trace in traces {
        let (status, body) = http(
            &server.addr,
            "GET",
            &format!("/api/v1/traces/{}", trace.trace_id),
            &[],
            "",
        )
        .unwrap();
        assert_eq!(status, 200, "{body}");
        let records: Vec<SpanRecord> = serde_json::from_str(&body).unwrap();
        for record in records {
            spans.insert(
                (record.trace_id.to_string(), record.span_id.to_string()),
                record,
            );
        }
    }
    spans
}

/// A Phoenix attribute value (OTLP JSON `AnyValue`, snake_case) as text.
fn phoenix_value_text(value: &Value) -> Option<String> {
    let (kind, v) = value.as_object()?.iter().find(|(_, v)| !v.is_null())?;
    Some(match (kind.as_str(), v) {
        (_, Value::String(s)) => s.clone(),
        ("bool_value", Value::Bool(b)) => b.to_string(),
        ("int_value", Value::Number(n)) => n.to_string(),
        ("double_value", Value::Number(n)) => n.as_f64()?.to_string(),
        _ => v.to_string(),
    })
}

fn journey_value_text(value: &AttrValue) -> String {
    value.to_text().into_owned()
}

/// The whole check for one protocol: Phoenix up, `pigeon serve` exporting to it with
/// `protocol`, DM traffic, then both stores compared span by span.
fn export_reaches_phoenix(protocol: &str) {
    let Some(version) = phoenix_installed() else {
        return;
    };
    let started = Instant::now();
    let phoenix = Phoenix::start();
    eprintln!(
        "Phoenix {version} up on {} (gRPC {}) after {:?}",
        phoenix.http_addr(),
        phoenix.grpc_addr(),
        started.elapsed()
    );
    let (endpoint, service) = match protocol {
        "grpc" => (
            format!("http://{}", phoenix.grpc_addr()),
            "pigeon-phoenix-grpc",
        ),
        _ => (
            format!("http://{}", phoenix.http_addr()),
            "pigeon-phoenix-http",
        ),
    };
    let resource = format!("openinference.project.name={service},deployment.environment=test");
    let dir = tempfile::tempdir().unwrap();
    let server = support::Serve::start(
        &dir.path().join("server"),
        "127.0.0.1:0",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_SERVICE_NAME", service),
            ("OTEL_RESOURCE_ATTRIBUTES", &resource),
        ],
    );

    // Real traffic: two people register and one sends the other a message that is received.
    let (alice, bob) = (dir.path().join("alice.json"), dir.path().join("bob.json"));
    for (profile, name) in [(&alice, "alice"), (&bob, "bob")] {
        chat(
            profile,
            &["register", "--server", &server.url(), "--username", name],
        );
    }
    chat(&alice, &["send", "--to", "bob", "hello", "phoenix"]);
    let heard = chat(&bob, &["listen", "--count", "1"]);
    assert!(heard.contains("] hello phoenix"), "{heard}");
    // And a caller with its own trace context: the server span continues it.
    let trace_id = format!(
        "{:016x}{:016x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    );
    let caller_span = "00f067aa0ba902b7";
    let (status, body) = http(
        &server.addr,
        "POST",
        "/v1/accounts",
        &[("traceparent", &format!("00-{trace_id}-{caller_span}-01"))],
        r#"{"username":"carol","device_name":"phone"}"#,
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");

    // Both stores fill on their own schedule (the journey store indexes every 100 ms, the
    // exporter sends as spans end, Phoenix inserts in batches): poll until they agree.
    let deadline = Instant::now() + DELIVERY;
    let (journey, stored) = loop {
        let journey = journey_spans(&server, service);
        let stored = phoenix.spans(service);
        let names: BTreeSet<&str> = journey.values().map(|s| s.name.as_str()).collect();
        let complete = journey.keys().any(|(t, _)| *t == trace_id)
            && [
                "POST /v1/accounts",
                "POST /v1/messages",
                "messaging.persist",
            ]
            .iter()
            .all(|n| names.contains(n));
        if complete && journey.keys().eq(stored.keys()) {
            break (journey, stored);
        }
        if Instant::now() >= deadline {
            let missing: Vec<_> = journey
                .iter()
                .filter(|(k, _)| !stored.contains_key(*k))
                .map(|(k, s)| (k, &s.name))
                .collect();
            let extra: Vec<_> = stored
                .keys()
                .filter(|k| !journey.contains_key(*k))
                .collect();
            panic!(
                "after {DELIVERY:?} Phoenix and the journey store still differ over {protocol}:\n\
                 journey complete: {complete}, {} spans, names {names:?}\n\
                 missing in Phoenix: {missing:?}\nonly in Phoenix: {extra:?}\n\
                 pigeon logs:\n{}\nPhoenix log:\n{}",
                journey.len(),
                server.logs.lock().unwrap().join("\n"),
                phoenix.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    eprintln!(
        "{protocol}: {} spans in {} traces agree, {:?} after start",
        journey.len(),
        journey
            .keys()
            .map(|(t, _)| t)
            .collect::<BTreeSet<_>>()
            .len(),
        started.elapsed()
    );

    for (key, ours) in &journey {
        let theirs = &stored[key];
        let what = format!("span {} {:?} over {protocol}", key.1, ours.name);
        // The resource: service.name and the project attribute on Pigeon's side; Phoenix filed
        // the span under the project that attribute names (we read it from that project).
        assert_eq!(ours.service, service, "{what}");
        assert!(
            ours.resource
                .iter()
                .any(|kv| kv.key == "openinference.project.name"
                    && journey_value_text(&kv.value) == service),
            "{what}: resource {:?}",
            ours.resource
        );
        assert_eq!(theirs["name"].as_str(), Some(ours.name.as_str()), "{what}");
        assert_eq!(
            theirs["parent_span_id"].as_str(),
            ours.parent_span_id.map(|p| p.to_string()).as_deref(),
            "{what}: parent"
        );
        // Phoenix keeps microseconds (through a float), Pigeon nanoseconds.
        for (field, ns) in [
            ("start_time_unix_nano", ours.start_unix_nano),
            ("end_time_unix_nano", ours.end_unix_nano),
        ] {
            let phoenix_ns = theirs[field].as_u64().unwrap();
            assert!(
                phoenix_ns.abs_diff(ns) < 2_000,
                "{what}: {field} {phoenix_ns} vs {ns}"
            );
        }
        let code = theirs["status"]["code"].as_i64().unwrap();
        match &ours.status {
            Status::Unset => assert_eq!(code, 0, "{what}: status"),
            Status::Ok => assert_eq!(code, 1, "{what}: status"),
            Status::Error { message } => {
                assert_eq!(code, 2, "{what}: status");
                assert_eq!(theirs["status"]["message"].as_str(), Some(message.as_str()));
            }
        }
        let attributes: BTreeMap<&str, Option<String>> = theirs["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| {
                (
                    kv["key"].as_str().unwrap(),
                    phoenix_value_text(&kv["value"]),
                )
            })
            .collect();
        for kv in &ours.attributes {
            assert_eq!(
                attributes.get(kv.key.as_ref()).cloned().flatten(),
                Some(journey_value_text(&kv.value)),
                "{what}: attribute {}; Phoenix has {attributes:?}",
                kv.key
            );
        }
    }

    // Filed by the resource attribute, not in the project spans without one land in.
    assert!(phoenix.spans("default").is_empty());

    // The caller's trace context was continued: same trace id, parent = the caller's span.
    let continued: Vec<_> = journey
        .iter()
        .filter(|((t, _), s)| *t == trace_id && s.name == "POST /v1/accounts")
        .collect();
    assert_eq!(continued.len(), 1, "{continued:?}");
    let (key, span) = continued[0];
    assert_eq!(
        span.parent_span_id.map(|p| p.to_string()).as_deref(),
        Some(caller_span)
    );
    assert_eq!(stored[key]["parent_span_id"].as_str(), Some(caller_span));

    // The message's server-side spans nest: messaging.persist under POST /v1/messages, in one
    // trace, on both sides.
    let persist = journey
        .iter()
        .find(|(_, s)| s.name == "messaging.persist")
        .unwrap();
    let parent = persist.1.parent_span_id.unwrap().to_string();
    let post = &journey[&(persist.0.0.clone(), parent.clone())];
    assert_eq!(post.name, "POST /v1/messages");
    assert_eq!(
        stored[persist.0]["parent_span_id"].as_str(),
        Some(parent.as_str())
    );

    // Nothing was dropped on the way out.
    let (status, metrics) = http(&server.addr, "GET", "/metrics", &[], "").unwrap();
    assert_eq!(status, 200);
    let dropped: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("pigeon_spans_dropped_total") && !l.ends_with(" 0"))
        .collect();
    assert!(dropped.is_empty(), "{dropped:?}");
    eprintln!("{protocol}: done in {:?}", started.elapsed());
}

/// The installed Arize Phoenix version, or `None` (outside CI) to skip. Asks the package
/// metadata: importing Phoenix takes seconds, and a broken install fails loudly at start.
fn phoenix_installed() -> Option<String> {
    let version = Command::new("python3")
        .args([
            "-c",
            "from importlib.metadata import version; print(version('arize-phoenix'))",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    if version.is_none() {
        let msg = "python3 with Arize Phoenix is needed (pip install -r \
                   apps/pigeon/tests/python/requirements.txt, or run ./scripts/test)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("skipping: {msg}");
    }
    version
}

#[test]
fn spans_exported_over_otlp_http_protobuf_are_the_journey_stores_spans_in_phoenix() {
    export_reaches_phoenix("http/protobuf");
}

#[test]
fn spans_exported_over_otlp_grpc_are_the_journey_stores_spans_in_phoenix() {
    export_reaches_phoenix("grpc");
}

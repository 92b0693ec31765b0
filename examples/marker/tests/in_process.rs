//! The marker pipeline in one process on the in-process bus, driven over real HTTP on loopback
//! through the gateway: the trace hop by hop in both carriers, the gateway's 4xx answers,
//! invalid JSON dead-lettered with an error span, a redelivered mark written once, and a full
//! disk retried until the line lands.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use example_marker::{JsonlFile, Topics, WebConfig};
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{
    SpanId, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, Value};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use pigeon_bus::{
    Backend, Bus, ContextCarrier, MemoryBackend, Message, OutgoingMessage, SubscribeOptions,
    Subscription, dlq_headers,
};

struct Pipeline {
    backend: Arc<dyn Backend>,
    provider: SdkTracerProvider,
    exporter: InMemorySpanExporter,
    carrier: ContextCarrier,
    url: String,
    file: PathBuf,
    subscriptions: Vec<Subscription>,
    _dir: tempfile::TempDir,
}

impl Pipeline {
    /// Gateway, processor and persister on one in-process bus; `prepare` may set up the
    /// messages file's path before persister opens it.
    async fn start(carrier: ContextCarrier, prepare: impl FnOnce(&Path)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("messages.jsonl");
        prepare(&file);
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let mut pipeline = Self {
            backend: Arc::new(MemoryBackend::new()),
            provider,
            exporter,
            carrier,
            url: String::new(),
            file: file.clone(),
            subscriptions: Vec::new(),
            _dir: dir,
        };
        let topics = Topics::default();
        let processor =
            example_marker::start_processor(pipeline.bus(), pipeline.tracer(), topics.clone())
                .await
                .unwrap();
        let persister = example_marker::start_persister(
            pipeline.bus(),
            pipeline.tracer(),
            topics.clone(),
            Arc::new(JsonlFile::open(&file).unwrap()),
        )
        .await
        .unwrap();
        pipeline.subscriptions = vec![processor, persister];
        let app = example_marker::router(
            pipeline.bus(),
            WebConfig {
                carrier,
                topics,
                ..WebConfig::default()
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        pipeline.url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        pipeline
    }

    fn bus(&self) -> Bus {
        Bus::builder_shared(self.backend.clone())
            .tracer(self.provider.tracer("pigeon-bus"))
            .propagator(TraceContextPropagator::new())
            .carrier(self.carrier)
            .build()
    }

    fn tracer(&self) -> BoxedTracer {
        BoxedTracer::new(Box::new(self.provider.tracer(example_marker::TRACER_NAME)))
    }

    fn spans(&self) -> Vec<SpanData> {
        self.exporter.get_finished_spans().unwrap()
    }

    /// Posts `body` to the gateway as the browser does, under a fresh `publish-message` span
    /// whose context rides as the carrier says; returns the status, the answer and the span.
    async fn post_mark(&self, body: serde_json::Value) -> (u16, serde_json::Value, Context) {
        let tracer = self.provider.tracer("browser");
        let cx = Context::new().with_span(tracer.start("publish-message"));
        let mut carried = std::collections::HashMap::new();
        opentelemetry::propagation::TextMapPropagator::inject_context(
            &TraceContextPropagator::new(),
            &cx,
            &mut carried,
        );
        let mut body = body;
        let mut request = reqwest::Client::new().post(format!("{}/marker/api/marks", self.url));
        match self.carrier {
            ContextCarrier::Headers => {
                for (k, v) in &carried {
                    request = request.header(k.as_str(), v.as_str());
                }
            }
            ContextCarrier::CorrelationId => {
                body["CorrelationId"] = carried["traceparent"].clone().into();
            }
        }
        let response = request
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let answer = serde_json::from_slice(&response.bytes().await.unwrap())
            .unwrap_or(serde_json::Value::Null);
        cx.span().end();
        (status, answer, cx)
    }

    fn lines(&self) -> Vec<serde_json::Value> {
        // While the file is a link to /dev/full there are no lines (and reading it never ends).
        if !std::fs::metadata(&self.file).is_ok_and(|m| m.is_file()) {
            return Vec::new();
        }
        std::fs::read_to_string(&self.file)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    async fn wait_for(&self, what: &str, mut done: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; spans: {:?}",
                self.spans()
                    .iter()
                    .map(|s| (s.name.to_string(), s.status.clone()))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) {
        for s in self.subscriptions {
            s.shutdown().await;
        }
    }
}

fn span<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
        panic!(
            "no span {name}; have {:?}",
            spans.iter().map(|s| s.name.as_ref()).collect::<Vec<_>>()
        )
    })
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

async fn one_trace_from_the_browser_to_the_file(carrier: ContextCarrier) {
    let pipeline = Pipeline::start(carrier, |_| {}).await;
    let (status, answer, browser) = pipeline
        .post_mark(serde_json::json!({"id": "mark-1", "text": "hello"}))
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["id"], "mark-1");
    pipeline
        .wait_for("the line", |p| p.lines().len() == 1)
        .await;
    pipeline
        .wait_for("persist-message", |p| {
            p.spans().iter().any(|s| s.name == "persist-message")
        })
        .await;

    let line = &pipeline.lines()[0];
    assert_eq!(line["id"], "mark-1");
    assert_eq!(line["text"], "hello");
    assert_eq!(line["processed"], true);
    let spans = pipeline.spans();
    let chain = [
        "send internal",
        "process internal",
        "process-message",
        "send external",
        "process external",
        "persist-message",
    ];
    let mut parent = browser.span().span_context().span_id();
    for name in chain {
        let s = span(&spans, name);
        assert_eq!(
            s.span_context.trace_id(),
            browser.span().span_context().trace_id(),
            "{name} in the browser's trace"
        );
        assert_eq!(s.parent_span_id, parent, "{name}'s parent");
        assert_eq!(s.status, Status::Unset, "{name} succeeded");
        parent = s.span_context.span_id();
    }
    for name in ["process-message", "persist-message"] {
        assert_eq!(
            attr(span(&spans, name), "message.id"),
            Some(&Value::from("mark-1"))
        );
    }
    if carrier == ContextCarrier::CorrelationId {
        // The persisted line carries processor's context, as the seed's audit trail does.
        let send_external = span(&spans, "send external");
        let field = line["CorrelationId"]
            .as_str()
            .expect("a CorrelationId field");
        assert!(field.contains(&send_external.span_context.span_id().to_string()));
    } else {
        assert!(line.get("CorrelationId").is_none());
    }
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_in_headers_makes_one_trace() {
    one_trace_from_the_browser_to_the_file(ContextCarrier::Headers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_in_a_correlation_id_field_makes_one_trace() {
    one_trace_from_the_browser_to_the_file(ContextCarrier::CorrelationId).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_refuses_bad_marks_and_publishes_nothing() {
    let pipeline = Pipeline::start(ContextCarrier::Headers, |_| {}).await;
    let client = reqwest::Client::new();
    let url = format!("{}/marker/api/marks", pipeline.url);
    let cases: [(&str, String, u16, &str); 5] = [
        (
            "text/plain",
            r#"{"text":"x"}"#.into(),
            415,
            "unsupported_media_type",
        ),
        ("application/json", "{not json".into(), 400, "invalid_json"),
        ("application/json", "[1,2]".into(), 400, "invalid_mark"),
        (
            "application/json",
            r#"{"id":7}"#.into(),
            400,
            "invalid_mark",
        ),
        (
            "application/json",
            format!(
                r#"{{"text":"{}"}}"#,
                "x".repeat(example_marker::MAX_MARK_BYTES)
            ),
            413,
            "",
        ),
    ];
    for (content_type, body, status, code) in cases {
        let response = client
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{content_type}");
        if !code.is_empty() {
            let answer: serde_json::Value =
                serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            assert_eq!(answer["error"], code);
            assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }
    // A good mark after the bad ones is the only line.
    let (status, _, _) = pipeline.post_mark(serde_json::json!({"text": "ok"})).await;
    assert_eq!(status, 202);
    pipeline
        .wait_for("the line", |p| p.lines().len() == 1)
        .await;
    assert!(
        pipeline
            .spans()
            .iter()
            .all(|s| s.name != "send internal" || s.status == Status::Unset)
    );
    assert_eq!(
        pipeline
            .spans()
            .iter()
            .filter(|s| s.name == "send internal")
            .count(),
        1,
        "only the good mark was published"
    );
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_json_is_an_error_span_and_dead_lettered_with_its_reason() {
    let pipeline = Pipeline::start(ContextCarrier::Headers, |_| {}).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let dlq = pipeline
        .bus()
        .subscribe(
            SubscribeOptions::new("internal.dlq", "test"),
            move |m: Message| {
                let _ = tx.send(m);
                async { Ok(()) }
            },
        )
        .await
        .unwrap();
    pipeline
        .bus()
        .publish(OutgoingMessage::new("internal", "{\"text\": oops"))
        .await
        .unwrap();
    let dead = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("dead-lettered within 10 s")
        .unwrap();
    assert_eq!(dead.payload(), b"{\"text\": oops", "kept byte for byte");
    let reason = dead.envelope.headers.get(dlq_headers::REASON).unwrap();
    assert!(reason.starts_with("invalid JSON"), "{reason}");
    assert_eq!(dead.envelope.headers.get(dlq_headers::ATTEMPTS), Some("1"));

    let spans = pipeline.spans();
    let failed = span(&spans, "process-message");
    assert!(
        matches!(&failed.status, Status::Error { description } if description.starts_with("invalid JSON"))
    );
    let exception = failed
        .events
        .iter()
        .find(|e| e.name == "exception")
        .unwrap();
    assert!(exception.attributes.iter().any(|kv| kv.key.as_str() == "exception.type"
        && kv.value == Value::from("InvalidJson")));
    assert!(pipeline.lines().is_empty());
    assert!(spans.iter().all(|s| s.name != "send external"));
    dlq.shutdown().await;
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mark_delivered_twice_is_written_once() {
    let pipeline = Pipeline::start(ContextCarrier::Headers, |_| {}).await;
    for _ in 0..2 {
        let (status, _, _) = pipeline
            .post_mark(serde_json::json!({"id": "twice", "text": "again"}))
            .await;
        assert_eq!(status, 202);
    }
    pipeline
        .wait_for("both persisted or skipped", |p| {
            p.spans()
                .iter()
                .filter(|s| s.name == "persist-message")
                .count()
                == 2
        })
        .await;
    assert_eq!(pipeline.lines().len(), 1);
    let spans = pipeline.spans();
    let skipped = spans
        .iter()
        .filter(|s| s.name == "persist-message")
        .filter(|s| {
            s.events
                .iter()
                .any(|e| e.name.contains("already persisted"))
        })
        .count();
    assert_eq!(skipped, 1);
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_retried_until_the_line_lands() {
    // The messages file is a link to /dev/full: every write fails with ENOSPC, as on a full
    // disk (a read-only file would not stop root, who runs CI here).
    let pipeline = Pipeline::start(ContextCarrier::Headers, |file| {
        std::os::unix::fs::symlink("/dev/full", file).unwrap();
    })
    .await;
    let (status, _, browser) = pipeline
        .post_mark(serde_json::json!({"id": "patient", "text": "wait for me"}))
        .await;
    assert_eq!(status, 202);
    let failures = |p: &Pipeline| {
        p.spans()
            .iter()
            .filter(|s| s.name == "persist-message" && matches!(s.status, Status::Error { .. }))
            .count()
    };
    pipeline
        .wait_for("two failed writes", |p| failures(p) >= 2)
        .await;
    assert!(pipeline.lines().is_empty());
    let failed = pipeline
        .spans()
        .into_iter()
        .find(|s| s.name == "persist-message")
        .unwrap();
    assert!(
        matches!(&failed.status, Status::Error { description } if description.contains("No space left"))
    );
    assert!(failed.events.iter().any(|e| e.name == "exception"));

    // Space again: the next retry writes the line, once, in the browser's trace.
    std::fs::remove_file(&pipeline.file).unwrap();
    pipeline
        .wait_for("the line", |p| p.lines().len() == 1)
        .await;
    pipeline
        .wait_for("the successful persist", |p| {
            p.spans()
                .iter()
                .any(|s| s.name == "persist-message" && s.status == Status::Unset)
        })
        .await;
    assert_eq!(pipeline.lines()[0]["id"], "patient");
    let spans = pipeline.spans();
    let landed = spans
        .iter()
        .find(|s| s.name == "persist-message" && s.status == Status::Unset)
        .unwrap();
    assert_eq!(
        landed.span_context.trace_id(),
        browser.span().span_context().trace_id()
    );
    assert_ne!(landed.parent_span_id, SpanId::INVALID);
    pipeline.stop().await;
}

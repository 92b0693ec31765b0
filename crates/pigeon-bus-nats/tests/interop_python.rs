//! Trace context across languages: pigeon-bus on one side, a Python service using only nats-py
//! and the OpenTelemetry Python SDK on the other (scripts in `tests/python/`).
//!
//! (a) pigeon publishes inside a span; the Python consumer's span continues the trace with our
//!     PRODUCER span as its parent.
//! (b) Python publishes inside a span; our CONSUMER span continues that trace with the Python
//!     span as its parent.
//!
//! Needs a JetStream server and `pip install -r tests/python/requirements.txt`. With `CI=true`
//! a missing piece fails the test; elsewhere it is skipped with a message.

// Test helpers: failing loudly on a broken expectation is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry::global;
use opentelemetry::trace::{
    FutureExt as _, SpanKind, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use pigeon_bus::{Bus, OutgoingMessage, SubscribeOptions};
use serde_json::Value;
use support::{nats_url, skip_or_fail, unique};

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("python")
        .join(name)
}

/// True when `python3` with nats-py and the OpenTelemetry SDK is there; otherwise fails (CI)
/// or says why it skips.
fn python_ready() -> bool {
    let check = Command::new("python3")
        .args(["-c", "import nats, opentelemetry.sdk.trace"])
        .output();
    match check {
        Ok(out) if out.status.success() => true,
        Ok(out) => skip_or_fail::<()>(&format!(
            "python3 lacks nats-py or opentelemetry-sdk ({}); run `pip install -r {}`",
            String::from_utf8_lossy(&out.stderr).trim(),
            script("requirements.txt").display()
        ))
        .is_some(),
        Err(err) => skip_or_fail::<()>(&format!("no python3 on PATH: {err}")).is_some(),
    }
}

/// Runs a script with `args` off the async threads and parses the JSON line it prints.
async fn run_python(name: &'static str, args: Vec<String>) -> Value {
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script(name))
            .args(&args)
            .output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|err| panic!("cannot run python3 {name}: {err}"));
    assert!(
        out.status.success(),
        "{name} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|err| panic!("{name} printed {stdout:?}: {err}"))
}

struct Traced {
    exporter: InMemorySpanExporter,
    provider: SdkTracerProvider,
}

impl Traced {
    fn new() -> Self {
        // The bus injects and extracts with the global propagator, as a service would.
        global::set_text_map_propagator(TraceContextPropagator::new());
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        Self { exporter, provider }
    }

    fn spans(&self) -> Vec<SpanData> {
        let _ = self.provider.force_flush();
        self.exporter.get_finished_spans().unwrap()
    }

    fn find(&self, kind: SpanKind, name: &str) -> SpanData {
        let spans = self.spans();
        spans
            .iter()
            .find(|s| s.span_kind == kind && s.name == name)
            .cloned()
            .unwrap_or_else(|| {
                panic!(
                    "no {kind:?} span {name:?} among {:?}",
                    spans
                        .iter()
                        .map(|s| (&s.name, &s.span_kind))
                        .collect::<Vec<_>>()
                )
            })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_consumer_continues_the_trace_of_a_pigeon_publish() {
    let Some(backend) = support::backend().await else {
        return;
    };
    if !python_ready() {
        return;
    }
    let traced = Traced::new();
    let topic = unique("interop.to-python");
    let stream = backend.stream_name(&topic);
    let bus = Bus::builder(backend)
        .tracer(traced.provider.tracer("interop-test"))
        .build();

    let root = traced.provider.tracer("interop-test").start("checkout");
    let root_cx = Context::current_with_span(root);
    bus.publish(OutgoingMessage::new(&topic, "{\"order\": 1}"))
        .with_context(root_cx.clone())
        .await
        .expect("publish");
    root_cx.span().end();

    let python = run_python(
        "consume.py",
        vec![
            "--url".into(),
            nats_url(),
            "--stream".into(),
            stream.clone(),
            "--subject".into(),
            topic.clone(),
            "--durable".into(),
            unique("python"),
        ],
    )
    .await;

    let producer = traced.find(SpanKind::Producer, &format!("send {topic}"));
    let root = traced.find(SpanKind::Internal, "checkout");
    assert_eq!(producer.parent_span_id, root.span_context.span_id());
    assert_eq!(
        python["trace_id"].as_str(),
        Some(producer.span_context.trace_id().to_string().as_str()),
        "python saw {python}"
    );
    assert_eq!(
        python["parent_span_id"].as_str(),
        Some(producer.span_context.span_id().to_string().as_str()),
        "python saw {python}"
    );
    assert_eq!(python["payload"].as_str(), Some("{\"order\": 1}"));

    bus.shutdown().await;
    let js = async_nats::jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    let _ = js.delete_stream(stream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pigeon_consumer_continues_the_trace_of_a_python_publish() {
    let Some(backend) = support::backend().await else {
        return;
    };
    if !python_ready() {
        return;
    }
    let traced = Traced::new();
    let topic = unique("interop.from-python");
    let stream = backend.stream_name(&topic);
    let bus = Bus::builder(backend)
        .tracer(traced.provider.tracer("interop-test"))
        .build();

    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::channel(1);
    let subscription = bus
        .subscribe(
            SubscribeOptions::new(&topic, unique("rust")),
            move |message: pigeon_bus::Message| {
                let seen_tx = seen_tx.clone();
                async move {
                    let _ = seen_tx.send(message.payload().to_vec()).await;
                    Ok(())
                }
            },
        )
        .await
        .expect("subscribe");

    let python = run_python(
        "publish.py",
        vec![
            "--url".into(),
            nats_url(),
            "--stream".into(),
            stream.clone(),
            "--subject".into(),
            topic.clone(),
        ],
    )
    .await;
    let payload = tokio::time::timeout(Duration::from_secs(10), seen_rx.recv())
        .await
        .expect("the subscriber never saw the python message")
        .unwrap();
    assert_eq!(payload, b"{\"from\": \"python\"}");
    subscription.shutdown().await;

    let consumer = traced.find(SpanKind::Consumer, &format!("process {topic}"));
    assert_eq!(
        python["trace_id"].as_str(),
        Some(consumer.span_context.trace_id().to_string().as_str()),
        "python sent {python}"
    );
    assert_eq!(
        python["span_id"].as_str(),
        Some(consumer.parent_span_id.to_string().as_str()),
        "python sent {python}"
    );
    assert!(consumer.parent_span_is_remote, "parent came over the wire");

    bus.shutdown().await;
    let js = async_nats::jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    let _ = js.delete_stream(stream).await;
}

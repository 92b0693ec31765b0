//! `init` installs the process globals; this binary calls it exactly once.

// Test helpers outside #[test] fns: clippy.toml allows unwrap only inside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::{TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue, baggage::BaggageExt as _};
use pigeon_telemetry::{CollectingConsumer, Telemetry, TelemetryError};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_wires_globals_metrics_and_propagation() {
    let collector = Arc::new(CollectingConsumer::new(1_000));
    let telemetry = pigeon_telemetry::init(
        Telemetry::builder()
            .with_service_name("global-test")
            .with_consumer(collector.clone()),
    )
    .unwrap();

    // Library code: only the `opentelemetry` API and `tracing`.
    let counter = opentelemetry::global::meter("pigeon-lib")
        .u64_counter("pigeon_test_messages")
        .build();
    counter.add(3, &[KeyValue::new("topic", "orders")]);
    opentelemetry::global::tracer("pigeon-lib").in_span("api span", |_| {});
    tracing::info_span!("tracing span").in_scope(|| tracing::info!("inside"));

    telemetry.flush_async().await.unwrap();
    let names: Vec<String> = collector
        .spans()
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert!(names.contains(&"api span".to_string()), "{names:?}");
    assert!(names.contains(&"tracing span".to_string()), "{names:?}");
    let service = collector
        .resource()
        .and_then(|r| r.get(&opentelemetry::Key::new("service.name")))
        .map(|v| v.to_string());
    assert_eq!(service.as_deref(), Some("global-test"));

    // /metrics on a real listener.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = pigeon_telemetry::metrics_router(&telemetry);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let response = get(addr, "/metrics").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("text/plain; version=0.0.4"), "{response}");
    assert!(
        response
            .lines()
            .any(|l| l.starts_with("pigeon_test_messages_total{") && l.ends_with(" 3")),
        "{response}"
    );
    assert!(
        response.contains("# TYPE pigeon_spans_dropped_total counter"),
        "{response}"
    );
    assert!(
        response.contains("service_name=\"global-test\""),
        "{response}"
    );

    // W3C TraceContext + Baggage on the global propagator.
    let tracer = opentelemetry::global::tracer("pigeon-lib");
    let cx = Context::current_with_span(tracer.start("outgoing"))
        .with_baggage(vec![KeyValue::new("order.id", "42")]);
    let mut headers = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut headers));
    let trace_id = cx.span().span_context().trace_id().to_string();
    assert!(headers["traceparent"].contains(&trace_id), "{headers:?}");
    assert_eq!(headers["baggage"], "order.id=42");

    // A second init must not install a second subscriber.
    assert!(matches!(
        pigeon_telemetry::init(Telemetry::builder()),
        Err(TelemetryError::SubscriberAlreadySet(_))
    ));

    let t = telemetry.clone();
    tokio::task::spawn_blocking(move || t.shutdown_with_timeout(Duration::from_secs(2)))
        .await
        .unwrap()
        .unwrap();
}

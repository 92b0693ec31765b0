//! OTLP export against real sockets: an HTTP receiver that counts requests, and a closed port
//! that must never slow the application down.

// Test helpers outside #[test] fns: clippy.toml allows unwrap only inside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use opentelemetry::trace::{Span as _, Tracer as _};
use pigeon_telemetry::{CollectingConsumer, OtlpProtocol, Telemetry};

#[derive(Default)]
struct Received {
    posts: AtomicUsize,
    protobuf_posts: AtomicUsize,
    bytes: AtomicU64,
    bodies: std::sync::Mutex<Vec<Bytes>>,
}

/// A minimal OTLP/HTTP receiver on 127.0.0.1:0.
async fn start_receiver() -> (std::net::SocketAddr, Arc<Received>) {
    let received = Arc::new(Received::default());
    let state = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                state.posts.fetch_add(1, Ordering::SeqCst);
                if headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    == Some("application/x-protobuf")
                {
                    state.protobuf_posts.fetch_add(1, Ordering::SeqCst);
                }
                state.bytes.fetch_add(body.len() as u64, Ordering::SeqCst);
                state.bodies.lock().unwrap().push(body);
                // An empty body is a valid, empty ExportTraceServiceResponse.
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_http_export_reaches_a_real_listener() {
    let (addr, received) = start_receiver().await;
    let collector = Arc::new(CollectingConsumer::new(1_000));
    let telemetry = Telemetry::builder()
        .with_service_name("export-test")
        .with_otlp_endpoint(format!("http://{addr}"))
        .with_otlp_protocol(OtlpProtocol::HttpProtobuf)
        .with_export_batch_size(10)
        .with_consumer(collector.clone())
        .build_local()
        .unwrap();
    let tracer = telemetry.tracer("export");
    for i in 0..25 {
        let mut span = tracer.start("exported");
        span.set_attribute(opentelemetry::KeyValue::new("i", i));
        span.end();
    }
    // Waits for consumers *and* the exporter.
    telemetry.flush_async().await.unwrap();

    assert_eq!(collector.len(), 25, "consumers get spans alongside export");
    assert!(
        received.posts.load(Ordering::SeqCst) >= 3,
        "25 spans in batches of 10"
    );
    assert_eq!(
        received.protobuf_posts.load(Ordering::SeqCst),
        received.posts.load(Ordering::SeqCst)
    );
    assert!(received.bytes.load(Ordering::SeqCst) > 0);
    // Protobuf keeps strings as raw UTF-8: the resource and span names are in the bodies.
    let bodies = received.bodies.lock().unwrap().clone();
    let contains = |needle: &[u8]| {
        bodies
            .iter()
            .any(|b| b.windows(needle.len()).any(|w| w == needle))
    };
    assert!(contains(b"export-test"), "service.name exported");
    assert!(contains(b"exported"), "span name exported");
    assert_eq!(telemetry.spans_dropped(), 0);
    let t = telemetry.clone();
    tokio::task::spawn_blocking(move || t.shutdown())
        .await
        .unwrap()
        .unwrap();
}

#[test]
fn grpc_export_to_a_closed_port_never_blocks_and_counts_drops() {
    let collector = Arc::new(CollectingConsumer::new(50_000));
    // No runtime here: the exporter builds tonic inside its own.
    let telemetry = Telemetry::builder()
        .with_otlp_endpoint("http://127.0.0.1:1")
        .with_otlp_protocol(OtlpProtocol::Grpc)
        .with_otlp_timeout(Duration::from_millis(200))
        .with_export_queue_capacity(1_000)
        .with_flush_timeout(Duration::from_millis(300))
        .with_consumer(collector.clone())
        .build_local()
        .unwrap();
    let tracer = telemetry.tracer("closed");

    const N: usize = 20_000;
    let started = Instant::now();
    for _ in 0..N {
        tracer.start("s").end();
    }
    let elapsed = started.elapsed();
    // Debug build, shared CPU: still far below anything that waits on the network.
    assert!(
        elapsed < Duration::from_secs(2),
        "app path slowed by export trouble: {elapsed:?} for {N} spans"
    );

    // In-process consumers get everything even though export is failing.
    let _ = telemetry.force_flush();
    assert!(
        collector
            .wait_for(|s| s.len() == N, Duration::from_secs(5))
            .is_some()
    );

    // The export queue (1,000) overflowed, and what was tried failed: both counted.
    let deadline = Instant::now() + Duration::from_secs(10);
    while telemetry.drops().export_failed == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let drops = telemetry.drops();
    assert!(drops.export_queue_full > 0, "{drops:?}");
    assert!(drops.export_failed > 0, "{drops:?}");
    assert_eq!(drops.sink_full, 0, "{drops:?}");
    assert!(
        telemetry
            .render_metrics()
            .unwrap()
            .contains("reason=\"export_failed\"")
    );

    // Shutdown is bounded too.
    let started = Instant::now();
    let _ = telemetry.shutdown_with_timeout(Duration::from_millis(500));
    assert!(started.elapsed() < Duration::from_secs(2));
}

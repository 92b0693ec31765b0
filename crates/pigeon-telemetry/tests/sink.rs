//! The span sink against real tracer providers: delivery under concurrency, drop counting,
//! flush semantics, consumer isolation.

// Test helpers outside #[test] fns: clippy.toml allows unwrap only inside them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData};
use pigeon_telemetry::{
    CollectingConsumer, FlushError, SinkOptions, SpanConsumer, SpanSink, Telemetry,
};

/// Records span ids only, so the consumer stays cheap in debug builds.
#[derive(Default)]
struct IdRecorder {
    ids: Mutex<Vec<u64>>,
}

impl SpanConsumer for IdRecorder {
    fn consume(&self, batch: &[SpanData]) {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        ids.extend(
            batch
                .iter()
                .map(|s| u64::from_be_bytes(s.span_context.span_id().to_bytes())),
        );
    }
}

/// Sleeps on every batch: a consumer that cannot keep up.
struct Slow {
    delay: Duration,
    seen: AtomicU64,
}

impl SpanConsumer for Slow {
    fn consume(&self, batch: &[SpanData]) {
        thread::sleep(self.delay);
        self.seen.fetch_add(batch.len() as u64, Ordering::Relaxed);
    }
}

#[test]
fn every_span_reaches_the_consumer_under_concurrency() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 25_000;
    let recorder = Arc::new(IdRecorder::default());
    let telemetry = Telemetry::builder()
        .with_consumer(recorder.clone())
        .build_local()
        .unwrap();

    thread::scope(|s| {
        for t in 0..THREADS {
            let tracer = telemetry.tracer("concurrency");
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    let mut span = tracer.start(format!("span-{t}"));
                    span.set_attribute(opentelemetry::KeyValue::new("i", i as i64));
                    span.end();
                    // Moderate rate: a short pause every 250 spans.
                    if i % 250 == 0 {
                        thread::sleep(Duration::from_micros(200));
                    }
                }
            });
        }
    });
    telemetry.force_flush().unwrap();

    let ids = recorder.ids.lock().unwrap();
    assert_eq!(ids.len(), THREADS * PER_THREAD);
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        THREADS * PER_THREAD
    );
    assert_eq!(telemetry.spans_dropped(), 0);
}

#[test]
fn a_tiny_queue_drops_and_counts_instead_of_blocking() {
    let slow = Arc::new(Slow {
        delay: Duration::from_millis(20),
        seen: AtomicU64::new(0),
    });
    let telemetry = Telemetry::builder()
        .with_sink_capacity(16)
        .with_consumer(slow.clone())
        .build_local()
        .unwrap();
    let tracer = telemetry.tracer("tiny");

    const N: u64 = 20_000;
    let started = Instant::now();
    for _ in 0..N {
        tracer.start("x").end();
    }
    let elapsed = started.elapsed();
    telemetry.force_flush().unwrap();

    let drops = telemetry.drops();
    assert!(drops.sink_full > 0, "expected drops, got {drops:?}");
    assert_eq!(slow.seen.load(Ordering::Relaxed) + drops.sink_full, N);
    assert_eq!(drops.total(), drops.sink_full);
    // 20,000 spans against a consumer sleeping 20 ms per batch: if on_end waited for the
    // consumer this would take many seconds.
    assert!(
        elapsed < Duration::from_secs(3),
        "on_end blocked: {elapsed:?}"
    );
    let metrics = telemetry.render_metrics().unwrap();
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("pigeon_spans_dropped_total{") && l.contains("reason=\"sink_full\"")
        })
        .unwrap_or_else(|| panic!("no sink_full counter in {metrics}"));
    assert!(line.ends_with(&format!(" {}", drops.sink_full)), "{line}");
}

#[test]
fn force_flush_delivers_everything_ended_before_it() {
    let (telemetry, spans) = Telemetry::collecting(10_000).unwrap();
    let tracer = telemetry.tracer("flush");
    for round in 1..=5 {
        for _ in 0..100 {
            tracer.start("s").end();
        }
        // No sleeps, no polling: flush alone makes delivery deterministic.
        telemetry.force_flush().unwrap();
        assert_eq!(spans.len(), round * 100);
    }
    assert!(spans.take().iter().all(|s| s.name == "s"));
    assert!(spans.is_empty());
}

#[test]
fn flush_times_out_on_a_stuck_consumer_and_reports_it() {
    let slow = Arc::new(Slow {
        delay: Duration::from_millis(600),
        seen: AtomicU64::new(0),
    });
    let telemetry = Telemetry::builder()
        .with_consumer(slow)
        .with_flush_timeout(Duration::from_millis(100))
        .build_local()
        .unwrap();
    telemetry.tracer("stuck").start("s").end();
    let started = Instant::now();
    assert!(matches!(
        telemetry.force_flush(),
        Err(FlushError::Timeout(_))
    ));
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[tokio::test(flavor = "current_thread")]
async fn flush_and_shutdown_from_async_code_do_not_deadlock() {
    let (telemetry, spans) = Telemetry::collecting(100).unwrap();
    let tracer = telemetry.tracer("async");
    tracer.start("a").end();
    // Blocking call on the only runtime thread: fine, the sink needs nothing from it.
    telemetry.force_flush().unwrap();
    tracer.start("b").end();
    telemetry.flush_async().await.unwrap();
    assert_eq!(spans.len(), 2);
    tracer.start("c").end();
    telemetry.shutdown().unwrap();
    assert_eq!(spans.len(), 3, "shutdown delivers what was queued");
    assert_eq!(telemetry.force_flush(), Err(FlushError::ShutDown));
    assert_eq!(telemetry.shutdown(), Err(FlushError::ShutDown));
}

#[test]
fn wait_for_sees_spans_as_they_arrive() {
    let (telemetry, spans) = Telemetry::collecting(100).unwrap();
    let tracer = telemetry.tracer("wait");
    let handle = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        tracer.start("late").end();
    });
    let got = spans
        .wait_for(
            |s| s.iter().any(|s| s.name == "late"),
            Duration::from_secs(5),
        )
        .expect("span arrives without a flush");
    assert_eq!(got.len(), 1);
    handle.join().unwrap();
    assert!(
        spans
            .wait_for(|s| s.len() > 1, Duration::from_millis(30))
            .is_none()
    );
    drop(telemetry);
}

#[test]
fn a_panicking_consumer_is_removed_and_others_keep_receiving() {
    struct Panics;
    impl SpanConsumer for Panics {
        fn consume(&self, _batch: &[SpanData]) {
            panic!("consumer bug");
        }
    }
    let (telemetry, spans) = Telemetry::collecting(100).unwrap();
    telemetry.add_consumer(Arc::new(Panics));
    let tracer = telemetry.tracer("panic");
    tracer.start("one").end();
    telemetry.force_flush().unwrap();
    tracer.start("two").end();
    telemetry.force_flush().unwrap();
    assert_eq!(spans.len(), 2);
}

#[test]
fn unsampled_spans_never_reach_consumers() {
    let collector = Arc::new(CollectingConsumer::new(100));
    let telemetry = Telemetry::builder()
        .with_sampler(pigeon_telemetry::SamplerConfig::AlwaysOff)
        .with_consumer(collector.clone())
        .build_local()
        .unwrap();
    telemetry.tracer("off").start("s").end();
    telemetry.force_flush().unwrap();
    assert!(collector.is_empty());
}

#[test]
fn a_provider_of_your_own_can_use_the_sink() {
    let sink = SpanSink::start(SinkOptions::default()).unwrap();
    let collector = Arc::new(CollectingConsumer::new(100));
    sink.add_consumer(collector.clone());
    let provider = SdkTracerProvider::builder()
        .with_resource(
            opentelemetry_sdk::Resource::builder_empty()
                .with_service_name("own")
                .build(),
        )
        .with_span_processor(sink.processor())
        .build();
    provider.tracer("own").start("mine").end();
    sink.force_flush().unwrap();
    assert_eq!(collector.spans()[0].name, "mine");
    let resource = collector.resource().expect("resource announced");
    assert_eq!(
        resource
            .get(&opentelemetry::Key::new("service.name"))
            .map(|v| v.to_string()),
        Some("own".to_string())
    );
    provider.shutdown().unwrap();
}

#[test]
fn sdk_disabled_records_nothing_but_metrics_still_work() {
    let collector = Arc::new(CollectingConsumer::new(100));
    let telemetry = Telemetry::builder()
        .with_sdk_disabled(true)
        .with_otlp_endpoint("http://127.0.0.1:1")
        .with_consumer(collector.clone())
        .build_local()
        .unwrap();
    assert!(telemetry.sink().is_none());
    telemetry.tracer("off").start("s").end();
    telemetry.force_flush().unwrap();
    assert!(collector.is_empty());
    assert!(
        telemetry
            .render_metrics()
            .unwrap()
            .contains("pigeon_spans_dropped_total")
    );
}

//! The bus's metrics, read back through a real OpenTelemetry SDK meter provider.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use pigeon_bus::{Bus, HandlerError, MemoryBackend, Message, OutgoingMessage, SubscribeOptions};

/// Per metric name: (attributes as "k=v" pairs, sum or histogram count).
fn collect(exporter: &InMemoryMetricExporter) -> HashMap<String, Vec<(Vec<String>, u64)>> {
    let mut out: HashMap<String, Vec<(Vec<String>, u64)>> = HashMap::new();
    for rm in exporter.get_finished_metrics().unwrap() {
        for sm in rm.scope_metrics() {
            for metric in sm.metrics() {
                let points = out.entry(metric.name().to_owned()).or_default();
                let attrs = |it: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
                    let mut v: Vec<String> =
                        it.map(|kv| format!("{}={}", kv.key, kv.value)).collect();
                    v.sort();
                    v
                };
                match metric.data() {
                    AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                        for p in sum.data_points() {
                            points.push((attrs(&mut p.attributes()), p.value()));
                        }
                    }
                    AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                        for p in h.data_points() {
                            points.push((attrs(&mut p.attributes()), p.count()));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

fn total(points: &[(Vec<String>, u64)], with: &str) -> u64 {
    points
        .iter()
        .filter(|(a, _)| a.iter().any(|kv| kv == with))
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_consumed_duration_and_queue_time_are_recorded_with_their_attributes() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let bus = Bus::builder(MemoryBackend::new())
        .tracing(false)
        .meter(provider.meter("pigeon-bus"))
        .build();
    let failed = Arc::new(AtomicBool::new(false));
    let f = failed.clone();
    let options = SubscribeOptions::new("metered", "workers")
        .backoff(Duration::from_millis(5), Duration::from_millis(5));
    let sub = bus
        .subscribe(options, move |m: Message| {
            let f = f.clone();
            async move {
                if m.payload() == b"2" && !f.swap(true, Ordering::SeqCst) {
                    return Err(HandlerError::retry("once"));
                }
                Ok(())
            }
        })
        .await
        .unwrap();
    for i in 0..5 {
        bus.publish(OutgoingMessage::new("metered", i.to_string()))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    sub.shutdown().await;
    provider.force_flush().unwrap();
    let m = collect(&exporter);

    let sent = &m["messaging.client.sent.messages"];
    assert_eq!(total(sent, "messaging.destination.name=metered"), 5);
    assert!(
        sent[0].0.contains(&"messaging.system=pigeon".to_owned()),
        "{sent:?}"
    );
    assert!(
        sent[0]
            .0
            .contains(&"messaging.operation.name=send".to_owned())
    );

    let consumed = &m["messaging.client.consumed.messages"];
    assert_eq!(
        total(consumed, "messaging.consumer.group.name=workers"),
        6,
        "five and one retry"
    );

    let durations = &m["messaging.process.duration"];
    assert_eq!(total(durations, "messaging.destination.name=metered"), 6);
    assert_eq!(total(durations, "error.type=handler_failed"), 1);

    let queue = &m["pigeon.messaging.queue_time"];
    assert_eq!(total(queue, "messaging.destination.name=metered"), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_trace_context_is_counted() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let backend = Arc::new(MemoryBackend::new());
    let propagator = || opentelemetry_sdk::propagation::TraceContextPropagator::new();
    // No spans and no current context: the garbage header reaches the consumer as written.
    let raw = Bus::builder_shared(backend.clone())
        .tracing(false)
        .propagator(propagator())
        .build();
    let bus = Bus::builder_shared(backend)
        .tracing(false)
        .propagator(propagator())
        .meter(provider.meter("pigeon-bus"))
        .build();
    let sub = bus
        .subscribe(SubscribeOptions::new("garbled", "g"), |_m: Message| {
            std::future::ready(Ok(()))
        })
        .await
        .unwrap();
    raw.publish(OutgoingMessage::new("garbled", "x").header("traceparent", "00-zz"))
        .await
        .unwrap();
    raw.publish(OutgoingMessage::new("garbled", "y"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    sub.shutdown().await;
    provider.force_flush().unwrap();
    let m = collect(&exporter);
    assert_eq!(
        total(
            &m["pigeon.bus.trace_context.malformed"],
            "messaging.system=pigeon"
        ),
        1
    );
}

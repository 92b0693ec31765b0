//! The whole pipeline in one process on the in-process bus, with one tracer provider (and one
//! `CollectingConsumer`) per service, asserting every order's trace hop by hop.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use example_orders::{
    Knobs, ORDER_ID, PipelineConfig, REJECTED_REASON_HEADER, Schedule, Service, ServiceWiring,
    Topics, Wiring, run_all,
};
use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry::{Key, Value};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SpanData;
use pigeon_bus::{Backend, Bus, MemoryBackend, SubscribeOptions};
use pigeon_telemetry::{CollectingConsumer, Telemetry};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// One service's telemetry and the spans it collected.
struct Observed {
    service: Service,
    telemetry: Telemetry,
    spans: Arc<CollectingConsumer>,
}

struct Harness {
    backend: Arc<dyn Backend>,
    observed: Vec<Observed>,
}

impl Harness {
    fn new() -> Self {
        let observed = Service::ALL
            .into_iter()
            .map(|service| {
                let spans = Arc::new(CollectingConsumer::new(100_000));
                let telemetry = Telemetry::builder()
                    .with_service_name(service.name())
                    .with_consumer(spans.clone())
                    .build_local()
                    .unwrap();
                Observed {
                    service,
                    telemetry,
                    spans,
                }
            })
            .collect();
        Self {
            backend: Arc::new(MemoryBackend::new()),
            observed,
        }
    }

    fn wiring(&self) -> Wiring {
        let wirings: Vec<(Service, ServiceWiring)> = self
            .observed
            .iter()
            .map(|o| {
                let bus = Bus::builder_shared(self.backend.clone())
                    .tracer(o.telemetry.tracer("pigeon-bus"))
                    .propagator(TraceContextPropagator::new())
                    .build();
                let tracer = o.telemetry.tracer(example_orders::TRACER_NAME);
                (o.service, ServiceWiring::with_tracer(bus, tracer))
            })
            .collect();
        Wiring::per_service(move |service| {
            wirings
                .iter()
                .find(|(s, _)| *s == service)
                .unwrap()
                .1
                .clone()
        })
    }

    fn collector(&self, service: Service) -> &CollectingConsumer {
        &self
            .observed
            .iter()
            .find(|o| o.service == service)
            .unwrap()
            .spans
    }

    /// Every span, with the `service.name` of the resource it was reported under.
    fn spans(&self) -> Vec<(String, SpanData)> {
        let mut all = Vec::new();
        for o in &self.observed {
            o.telemetry.force_flush().unwrap();
            let resource = o.spans.resource().expect("the sink announces its resource");
            let name = resource
                .get(&Key::new("service.name"))
                .map(|v| v.to_string())
                .unwrap();
            assert_eq!(name, o.service.name());
            all.extend(o.spans.spans().into_iter().map(|s| (name.clone(), s)));
        }
        all
    }
}

fn fast_config(prefix: &str) -> PipelineConfig {
    PipelineConfig {
        topics: Topics::with_prefix(prefix),
        knobs: Knobs::default().with_time_scale(0.01).unwrap(),
        website: Schedule::every(Duration::from_millis(15)).limit(4),
        onsite: Schedule::every(Duration::from_millis(20)).limit(4),
        direct: Schedule::every(Duration::from_millis(25)).limit(3),
        drain_timeout: Duration::from_secs(5),
        ..PipelineConfig::default()
    }
}

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| match &kv.value {
            Value::String(s) => s.to_string(),
            other => other.to_string(),
        })
}

/// Waits (off the async workers) until `service` has collected `n` spans named `name`.
async fn wait_for_spans(h: &Harness, service: Service, name: String, n: usize) {
    let spans = h.observed.iter().find(|o| o.service == service).unwrap();
    let (collector, telemetry) = (spans.spans.clone(), spans.telemetry.clone());
    let found = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            telemetry.force_flush().unwrap();
            let done = collector
                .wait_for(
                    |spans| spans.iter().filter(|s| s.name == name).count() >= n,
                    Duration::from_millis(200),
                )
                .is_some();
            if done {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(found, "{service} did not collect {n} spans in time");
}

/// The one span of `service` named `name` whose parent is `parent`.
fn one<'a>(
    trace: &'a [&'a (String, SpanData)],
    service: Service,
    name: &str,
    parent: SpanId,
) -> &'a SpanData {
    let found: Vec<_> = trace
        .iter()
        .filter(|(s, span)| {
            s == service.name() && span.name == name && span.parent_span_id == parent
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {name} of {service} under {parent}; trace: {:#?}",
        trace
            .iter()
            .map(|(s, sp)| (s, &sp.name, sp.span_context.span_id(), sp.parent_span_id))
            .collect::<Vec<_>>()
    );
    &found[0].1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_order_is_one_trace_through_every_service() {
    let h = Harness::new();
    let config = fast_config("inproc");
    let topics = config.topics.clone();
    let expected = 4 + 4 + 3;
    let shutdown = CancellationToken::new();
    let pipeline = tokio::spawn(run_all(h.wiring(), config, shutdown.clone()));

    wait_for_spans(
        &h,
        Service::KitchenService,
        format!("process {}", topics.kitchen),
        expected,
    )
    .await;
    shutdown.cancel();
    pipeline.await.unwrap().unwrap();

    let spans = h.spans();
    let places: Vec<_> = spans
        .iter()
        .filter(|(_, s)| s.name == "place-order")
        .collect();
    assert_eq!(places.len(), expected);
    let mut seen = HashSet::new();
    for (place_service, place) in places {
        let order_id = attr(place, ORDER_ID).unwrap();
        assert!(
            seen.insert(order_id.clone()),
            "order {order_id} placed twice"
        );
        assert_eq!(
            place.parent_span_id,
            SpanId::INVALID,
            "place-order is the root"
        );
        let source = match place_service.as_str() {
            "website-ordering" => Service::WebsiteOrdering,
            "onsite-ordering" => Service::OnsiteOrdering,
            "direct-kitchen-ordering" => Service::DirectKitchenOrdering,
            other => panic!("place-order reported by {other}"),
        };
        let trace_id = place.span_context.trace_id();
        let trace: Vec<_> = spans
            .iter()
            .filter(|(_, s)| s.span_context.trace_id() == trace_id)
            .collect();
        let place_id = place.span_context.span_id();

        let to_kitchen = if source == Service::DirectKitchenOrdering {
            let send = one(
                &trace,
                source,
                &format!("send {}", topics.kitchen),
                place_id,
            );
            assert_eq!(send.span_kind, SpanKind::Producer);
            send
        } else {
            let send = one(
                &trace,
                source,
                &format!("send {}", topics.validate),
                place_id,
            );
            assert_eq!(send.span_kind, SpanKind::Producer);
            let process = one(
                &trace,
                Service::OrderValidation,
                &format!("process {}", topics.validate),
                send.span_context.span_id(),
            );
            assert_eq!(process.span_kind, SpanKind::Consumer);
            assert_eq!(attr(process, ORDER_ID).as_deref(), Some(order_id.as_str()));
            let consumer_id = process.span_context.span_id();
            for check in ["validate-address", "validate-name", "validate-inventory"] {
                let step = one(&trace, Service::OrderValidation, check, consumer_id);
                assert_eq!(attr(step, ORDER_ID).as_deref(), Some(order_id.as_str()));
                assert!(!matches!(step.status, Status::Error { .. }));
            }
            one(
                &trace,
                Service::OrderValidation,
                &format!("send {}", topics.kitchen),
                consumer_id,
            )
        };
        let process = one(
            &trace,
            Service::KitchenService,
            &format!("process {}", topics.kitchen),
            to_kitchen.span_context.span_id(),
        );
        assert_eq!(process.span_kind, SpanKind::Consumer);
        assert_eq!(attr(process, ORDER_ID).as_deref(), Some(order_id.as_str()));
        let cook = one(
            &trace,
            Service::KitchenService,
            "cook",
            process.span_context.span_id(),
        );
        assert_eq!(attr(cook, ORDER_ID).as_deref(), Some(order_id.as_str()));
        assert!(
            trace
                .iter()
                .all(|(_, s)| !matches!(s.status, Status::Error { .. })),
            "no step failed"
        );
    }
    // Nothing was evicted, so the checks above saw every span.
    assert!(h.collector(Service::KitchenService).evicted() == 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_address_checks_reject_every_order_and_none_reaches_the_kitchen() {
    let h = Harness::new();
    let mut config = fast_config("inproc-fail");
    config.knobs = config
        .knobs
        .clone()
        .with_fail("address=100%".parse().unwrap());
    config.onsite = config.onsite.limit(0);
    config.direct = config.direct.limit(0);
    let topics = config.topics.clone();
    let orders = 4;

    // Watch the rejected topic as an operator's tool would.
    let watcher = Bus::builder_shared(h.backend.clone())
        .tracing(false)
        .build();
    let (tx, mut rx) = mpsc::channel(64);
    let rejected_sub = watcher
        .subscribe(
            SubscribeOptions::new(&topics.rejected, "rejected-watcher"),
            move |message: pigeon_bus::Message| {
                let tx = tx.clone();
                async move {
                    let reason = message
                        .envelope
                        .headers
                        .get(REJECTED_REASON_HEADER)
                        .map(str::to_owned);
                    let order = example_orders::Order::from_json(message.payload()).unwrap();
                    tx.send((order.order_id.to_string(), reason)).await.unwrap();
                    Ok(())
                }
            },
        )
        .await
        .unwrap();

    let shutdown = CancellationToken::new();
    let pipeline = tokio::spawn(run_all(h.wiring(), config, shutdown.clone()));
    let mut rejected = HashSet::new();
    while rejected.len() < orders {
        let (id, reason) = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("rejected orders arrive")
            .unwrap();
        let reason = reason.expect("the reason travels in a header");
        assert!(reason.contains("validate-address"), "{reason}");
        rejected.insert(id);
    }
    // Give a wrongly forwarded order time to reach the kitchen before stopping.
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.cancel();
    pipeline.await.unwrap().unwrap();
    rejected_sub.shutdown().await;

    let spans = h.spans();
    let placed: HashSet<String> = spans
        .iter()
        .filter(|(_, s)| s.name == "place-order")
        .map(|(_, s)| attr(s, ORDER_ID).unwrap())
        .collect();
    assert_eq!(placed.len(), orders);
    assert_eq!(
        placed, rejected,
        "every placed order is on the rejected topic"
    );

    for order_id in &placed {
        let address = spans
            .iter()
            .find(|(_, s)| {
                s.name == "validate-address" && attr(s, ORDER_ID).as_deref() == Some(order_id)
            })
            .map(|(_, s)| s)
            .unwrap();
        assert!(matches!(address.status, Status::Error { .. }));
        assert!(address.events.iter().any(|e| e.name == "exception"));
        let consumer = spans
            .iter()
            .find(|(_, s)| s.span_context.span_id() == address.parent_span_id)
            .map(|(_, s)| s)
            .unwrap();
        assert_eq!(consumer.name, format!("process {}", topics.validate));
        assert!(consumer.events.iter().any(|e| e.name == "rejected"));
        let trace_id = address.span_context.trace_id();
        assert!(
            spans
                .iter()
                .all(|(service, s)| s.span_context.trace_id() != trace_id
                    || (service != "kitchen-service" && s.name != "validate-name")),
            "order {order_id} went past the failed check"
        );
    }
    assert!(h.collector(Service::KitchenService).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burnt_dish_is_an_error_span_and_dead_lettered_with_the_reason() {
    let h = Harness::new();
    let mut config = fast_config("inproc-burnt");
    config.knobs = config.knobs.clone().with_fail("cook=100%".parse().unwrap());
    config.website = config.website.limit(0);
    config.onsite = config.onsite.limit(0);
    config.direct = config.direct.limit(2);
    let dlq = format!("{}{}", config.topics.kitchen, pigeon_bus::DLQ_SUFFIX);

    let watcher = Bus::builder_shared(h.backend.clone())
        .tracing(false)
        .build();
    let (tx, mut rx) = mpsc::channel(64);
    let dlq_sub = watcher
        .subscribe(
            SubscribeOptions::new(&dlq, "dlq-watcher"),
            move |message: pigeon_bus::Message| {
                let tx = tx.clone();
                async move {
                    let reason = message
                        .envelope
                        .headers
                        .get(pigeon_bus::dlq_headers::REASON)
                        .map(str::to_owned);
                    tx.send(reason).await.unwrap();
                    Ok(())
                }
            },
        )
        .await
        .unwrap();

    let shutdown = CancellationToken::new();
    let pipeline = tokio::spawn(run_all(h.wiring(), config, shutdown.clone()));
    for _ in 0..2 {
        let reason = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("burnt orders are dead-lettered")
            .unwrap()
            .expect("with a reason");
        assert!(reason.contains("burnt"), "{reason}");
    }
    shutdown.cancel();
    pipeline.await.unwrap().unwrap();
    dlq_sub.shutdown().await;

    let spans = h.spans();
    let cooks: Vec<_> = spans.iter().filter(|(_, s)| s.name == "cook").collect();
    assert_eq!(cooks.len(), 2);
    for (_, cook) in cooks {
        assert!(matches!(cook.status, Status::Error { .. }));
        assert!(cook.events.iter().any(|e| e.name == "exception"));
    }
}

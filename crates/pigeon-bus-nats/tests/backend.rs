//! The backend against a real JetStream server: header mapping, de-duplication, and the four
//! ways of settling a delivery. Each test uses its own topic and group.

// Test helpers: failing loudly on a broken expectation is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_nats::jetstream;
use bytes::Bytes;
use pigeon_bus::{
    Backend, ConsumerSpec, Deliveries, Envelope, Headers, MessageId, PublishError, SubscribeError,
};
use pigeon_bus_nats::{ConnectError, NatsBackend, NatsConfig, headers};
use support::{backend, delete_stream, fetch, fetch_n, unique};

fn envelope(topic: &str, payload: &'static [u8]) -> Envelope {
    Envelope {
        id: MessageId::generate(),
        topic: Arc::from(topic),
        key: None,
        headers: Headers::new(),
        payload: Bytes::from_static(payload),
        published_at: SystemTime::now(),
        transient: false,
    }
}

fn spec(topic: &str, group: &str, ack_deadline: Duration) -> ConsumerSpec {
    ConsumerSpec {
        topic: Arc::from(topic),
        group: Arc::from(group),
        ack_deadline,
        max_in_flight: 16,
    }
}

async fn consumer(
    backend: &NatsBackend,
    topic: &str,
    ack_deadline: Duration,
) -> Box<dyn Deliveries> {
    backend
        .consume(spec(topic, &unique("g"), ack_deadline))
        .await
        .expect("consume")
}

#[tokio::test]
async fn round_trip_maps_every_field_to_headers_and_back() {
    let config = support::test_config().publish_time_header(true);
    let Some(backend) = support::backend_with(config).await else {
        return;
    };
    let topic = unique("rt.orders");
    let mut sent = envelope(&topic, b"hello");
    sent.key = Some(Arc::from("customer-7"));
    sent.headers.insert(
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    );
    sent.headers.insert("tracestate", "vendor=x");
    sent.headers.insert("baggage", "user=42");
    sent.headers.insert("x-custom", "v");
    let deliveries = consumer(&backend, &topic, Duration::from_secs(30)).await;
    backend.publish(sent.clone()).await.expect("publish");

    // On the wire: plain NATS headers any client can read.
    let js = jetstream::new(backend.client().clone());
    let raw = js
        .get_stream(backend.stream_name(&topic))
        .await
        .unwrap()
        .get_raw_message(1)
        .await
        .unwrap();
    assert_eq!(raw.subject.as_str(), topic);
    let wire = &raw.headers;
    assert_eq!(
        wire.get(headers::MESSAGE_ID).unwrap().as_str(),
        sent.id.as_str()
    );
    assert_eq!(wire.get(headers::KEY).unwrap().as_str(), "customer-7");
    assert_eq!(
        wire.get(headers::PUBLISHED_AT).unwrap().as_str(),
        sent.published_at_nanos().to_string()
    );
    assert_eq!(
        wire.get("traceparent").unwrap().as_str(),
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    );
    assert_eq!(wire.get("baggage").unwrap().as_str(), "user=42");

    // And back into an envelope equal to what was sent.
    let (_deliveries, got) = fetch_n(deliveries, 1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    let delivery = got.into_iter().next().unwrap();
    assert_eq!(delivery.attempt, 1);
    let mut received = (*delivery.envelope).clone();
    let mut expected = sent.clone();
    let sorted = |h: &Headers| {
        let mut v: Vec<(String, String)> = h
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(sorted(&received.headers), sorted(&expected.headers));
    received.headers = Headers::new();
    expected.headers = Headers::new();
    assert_eq!(received, expected);
    delivery.acker.ack().await.unwrap();
    delete_stream(&backend, &topic).await;
}

#[tokio::test]
async fn same_id_within_the_window_is_stored_once() {
    let Some(backend) = backend().await else {
        return;
    };
    let topic = unique("dedup");
    let message = envelope(&topic, b"once");
    backend.publish(message.clone()).await.unwrap();
    backend.publish(message.clone()).await.unwrap();
    let mut other = envelope(&topic, b"other");
    other.id = MessageId::from("another-id");
    backend.publish(other).await.unwrap();

    let js = jetstream::new(backend.client().clone());
    let mut stream = js.get_stream(backend.stream_name(&topic)).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 2);

    let deliveries = consumer(&backend, &topic, Duration::from_secs(30)).await;
    let (deliveries, got) = fetch_n(deliveries, 2, Duration::from_secs(5)).await;
    let ids: Vec<_> = got.iter().map(|d| d.envelope.id.clone()).collect();
    assert_eq!(ids, vec![message.id, MessageId::from("another-id")]);
    for d in got {
        d.acker.ack().await.unwrap();
    }
    let (_d, more) = fetch(deliveries, 10).await;
    assert!(more.is_empty(), "a duplicate was delivered");
    delete_stream(&backend, &topic).await;
}

#[tokio::test]
async fn nack_with_delay_redelivers_with_attempt_two_after_the_delay() {
    let Some(backend) = backend().await else {
        return;
    };
    let topic = unique("nack");
    let deliveries = consumer(&backend, &topic, Duration::from_secs(30)).await;
    let sent = envelope(&topic, b"retry me");
    backend.publish(sent.clone()).await.unwrap();

    let (deliveries, got) = fetch_n(deliveries, 1, Duration::from_secs(5)).await;
    let first = got.into_iter().next().expect("first delivery");
    assert_eq!(first.attempt, 1);
    let nacked_at = Instant::now();
    first.acker.nack(Duration::from_millis(600)).await.unwrap();

    let (_deliveries, again) = fetch_n(deliveries, 1, Duration::from_secs(5)).await;
    let second = again.into_iter().next().expect("redelivery");
    assert!(
        nacked_at.elapsed() >= Duration::from_millis(550),
        "redelivered after {:?}, before the delay",
        nacked_at.elapsed()
    );
    assert_eq!(second.envelope.id, sent.id);
    assert_eq!(second.attempt, 2);
    second.acker.ack().await.unwrap();
    delete_stream(&backend, &topic).await;
}

#[tokio::test]
async fn term_stops_redelivery() {
    let Some(backend) = backend().await else {
        return;
    };
    let topic = unique("term");
    let deliveries = consumer(&backend, &topic, Duration::from_millis(500)).await;
    backend.publish(envelope(&topic, b"poison")).await.unwrap();

    let (deliveries, got) = fetch_n(deliveries, 1, Duration::from_secs(5)).await;
    got.into_iter().next().unwrap().acker.term().await.unwrap();
    // Well past the ack deadline: nothing comes back.
    let (_deliveries, again) = fetch_n(deliveries, 1, Duration::from_millis(1_800)).await;
    assert!(again.is_empty(), "terminated message was redelivered");
    delete_stream(&backend, &topic).await;
}

#[tokio::test]
async fn in_progress_extends_the_ack_deadline() {
    let Some(backend) = backend().await else {
        return;
    };
    let topic = unique("wpi");
    let deadline = Duration::from_millis(1_200);
    let deliveries = consumer(&backend, &topic, deadline).await;
    backend.publish(envelope(&topic, b"slow")).await.unwrap();

    let (mut deliveries, got) = fetch_n(deliveries, 1, Duration::from_secs(5)).await;
    let delivery = got.into_iter().next().unwrap();
    // Work for two and a half deadlines, reporting progress about three times per deadline
    // (each round is a 200 ms fetch plus a 200 ms pause).
    let started = Instant::now();
    while started.elapsed() < deadline * 5 / 2 {
        delivery.acker.in_progress().await.unwrap();
        let (d, batch) = fetch(deliveries, 1).await;
        deliveries = d;
        assert!(batch.is_empty(), "redelivered while in progress");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    delivery.acker.ack().await.unwrap();
    let (_deliveries, after) = fetch_n(deliveries, 1, deadline * 2).await;
    assert!(after.is_empty(), "redelivered after the ack");
    delete_stream(&backend, &topic).await;
}

#[tokio::test]
async fn unacked_message_is_redelivered_after_the_ack_deadline() {
    let Some(backend) = backend().await else {
        return;
    };
    let topic = unique("expiry");
    let deadline = Duration::from_millis(700);
    let deliveries = consumer(&backend, &topic, deadline).await;
    let sent = envelope(&topic, b"forgotten");
    backend.publish(sent.clone()).await.unwrap();

    let (deliveries, got) = fetch_n(deliveries, 1, Duration::from_secs(5)).await;
    let first = got.into_iter().next().unwrap();
    let delivered_at = Instant::now();
    drop(first); // neither acked nor nacked

    let (_deliveries, again) = fetch_n(deliveries, 1, Duration::from_secs(5)).await;
    let second = again
        .into_iter()
        .next()
        .expect("redelivery after the deadline");
    assert!(delivered_at.elapsed() >= deadline - Duration::from_millis(100));
    assert_eq!(second.envelope.id, sent.id);
    assert_eq!(second.attempt, 2);
    second.acker.ack().await.unwrap();
    delete_stream(&backend, &topic).await;
}

#[tokio::test]
async fn groups_fan_out_and_members_share() {
    let Some(backend) = backend().await else {
        return;
    };
    let topic = unique("groups");
    let a = spec(&topic, &unique("a"), Duration::from_secs(30));
    let b = spec(&topic, &unique("b"), Duration::from_secs(30));
    let a1 = backend.consume(a.clone()).await.unwrap();
    let a2 = backend.consume(a).await.unwrap();
    let b1 = backend.consume(b).await.unwrap();
    for _ in 0..20 {
        backend.publish(envelope(&topic, b"m")).await.unwrap();
    }
    let (_b1, from_b) = fetch_n(b1, 20, Duration::from_secs(5)).await;
    assert_eq!(from_b.len(), 20, "group b sees every message");

    // Two members of group a: together they see each message once.
    let mut ids = Vec::new();
    let (mut a1, mut a2) = (a1, a2);
    let deadline = Instant::now() + Duration::from_secs(5);
    while ids.len() < 20 && Instant::now() < deadline {
        let (d, got) = fetch(a1, 5).await;
        a1 = d;
        ids.extend(got.iter().map(|d| d.envelope.id.clone()));
        for d in got {
            d.acker.ack().await.unwrap();
        }
        let (d, got) = fetch(a2, 5).await;
        a2 = d;
        ids.extend(got.iter().map(|d| d.envelope.id.clone()));
        for d in got {
            d.acker.ack().await.unwrap();
        }
    }
    let unique_ids: std::collections::HashSet<_> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), 20);
    assert_eq!(unique_ids.len(), 20);
    delete_stream(&backend, &topic).await;
}

#[tokio::test]
async fn batch_respects_max() {
    let Some(backend) = backend().await else {
        return;
    };
    let topic = unique("max");
    let deliveries = consumer(&backend, &topic, Duration::from_secs(30)).await;
    for _ in 0..10 {
        backend.publish(envelope(&topic, b"m")).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (deliveries, got) = fetch(deliveries, 3).await;
    assert!(!got.is_empty() && got.len() <= 3, "got {}", got.len());
    let (_d, rest) = fetch_n(deliveries, 10 - got.len(), Duration::from_secs(5)).await;
    assert_eq!(got.len() + rest.len(), 10);
    delete_stream(&backend, &topic).await;
}

#[tokio::test]
async fn message_from_a_plain_nats_peer_gets_a_stable_id_and_the_server_time() {
    let Some(backend) = backend().await else {
        return;
    };
    let topic = unique("foreign");
    let deliveries = consumer(&backend, &topic, Duration::from_millis(500)).await;
    let js = jetstream::new(backend.client().clone());
    let mut h = async_nats::HeaderMap::new();
    h.insert(
        "TraceParent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    );
    let before = SystemTime::now() - Duration::from_secs(5);
    js.publish_with_headers(topic.clone(), h, Bytes::from_static(b"{}"))
        .await
        .unwrap()
        .await
        .unwrap();

    let (deliveries, got) = fetch_n(deliveries, 1, Duration::from_secs(5)).await;
    let first = got.into_iter().next().unwrap();
    let expected_id = format!("{}:1", backend.stream_name(&topic));
    assert_eq!(first.envelope.id.as_str(), expected_id);
    assert!(first.envelope.key.is_none());
    assert!(first.envelope.published_at > before);
    assert!(first.envelope.headers.get("traceparent").is_some());
    drop(first);
    // The fallback id is the same on redelivery.
    let (_d, again) = fetch_n(deliveries, 1, Duration::from_secs(5)).await;
    assert_eq!(again[0].envelope.id.as_str(), expected_id);
    delete_stream(&backend, &topic).await;
}

#[tokio::test]
async fn oversized_and_unsendable_messages_are_errors() {
    let Some(backend) = backend().await else {
        return;
    };
    let topic = unique("limits");
    let max = backend.max_message_bytes();
    assert!(max > 1000, "max_message_bytes {max}");
    let mut big = envelope(&topic, b"");
    big.payload = Bytes::from(vec![0u8; max + 1024]);
    assert!(matches!(
        backend.publish(big).await,
        Err(PublishError::TooLarge { .. })
    ));
    let mut bad = envelope(&topic, b"x");
    bad.headers.insert("bad:name", "v");
    assert!(matches!(
        backend.publish(bad).await,
        Err(PublishError::Backend(_))
    ));
    delete_stream(&backend, &topic).await;
}

#[tokio::test]
async fn a_deleted_stream_is_recreated_on_publish() {
    let Some(backend) = backend().await else {
        return;
    };
    let topic = unique("recreate");
    backend.publish(envelope(&topic, b"1")).await.unwrap();
    delete_stream(&backend, &topic).await;
    backend.publish(envelope(&topic, b"2")).await.unwrap();
    let js = jetstream::new(backend.client().clone());
    let mut stream = js.get_stream(backend.stream_name(&topic)).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 1);
    delete_stream(&backend, &topic).await;
}

#[tokio::test]
async fn after_shutdown_publish_and_consume_are_refused() {
    let Some(backend) = backend().await else {
        return;
    };
    backend.shutdown().await;
    let topic = unique("closed");
    assert_eq!(
        backend.publish(envelope(&topic, b"x")).await,
        Err(PublishError::Closed)
    );
    assert!(matches!(
        backend
            .consume(spec(&topic, "g", Duration::from_secs(1)))
            .await,
        Err(SubscribeError::Closed)
    ));
}

#[tokio::test]
async fn connects_to_the_first_reachable_of_several_servers() {
    if backend().await.is_none() {
        return;
    }
    let urls = format!("nats://127.0.0.1:1, {}", support::nats_url());
    let backend = NatsBackend::connect(&urls, support::test_config()).await;
    assert!(backend.is_ok(), "{backend:?}");
}

#[tokio::test]
async fn connect_errors_are_typed() {
    let err = NatsBackend::connect("nats://127.0.0.1:1", NatsConfig::new())
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Unreachable { .. }), "{err:?}");
    let err = NatsBackend::connect("nats://bad host:x", NatsConfig::new())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConnectError::InvalidUrl { .. } | ConnectError::Unreachable { .. }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn reopening_a_group_with_other_options_updates_its_consumer() {
    let Some(backend) = backend().await else {
        return;
    };
    let topic = unique("reopen");
    let group = unique("g");
    let first = backend
        .consume(spec(&topic, &group, Duration::from_secs(30)))
        .await
        .unwrap();
    drop(first);
    let mut changed = spec(&topic, &group, Duration::from_secs(5));
    changed.max_in_flight = 100;
    let _second = backend.consume(changed).await.unwrap();
    let js = jetstream::new(backend.client().clone());
    let stream = js.get_stream(backend.stream_name(&topic)).await.unwrap();
    let info = stream.consumer_info(&group).await.unwrap();
    assert_eq!(info.config.ack_wait, Duration::from_secs(5));
    assert_eq!(info.config.max_ack_pending, 200);
    delete_stream(&backend, &topic).await;
}

#[tokio::test]
async fn by_default_published_at_is_the_jetstream_timestamp() {
    let Some(backend) = backend().await else {
        return;
    };
    let topic = unique("stamp");
    let deliveries = consumer(&backend, &topic, Duration::from_secs(30)).await;
    let before = SystemTime::now();
    let sent = envelope(&topic, b"x");
    backend.publish(sent.clone()).await.unwrap();
    let after = SystemTime::now();

    let js = jetstream::new(backend.client().clone());
    let raw = js
        .get_stream(backend.stream_name(&topic))
        .await
        .unwrap()
        .get_raw_message(1)
        .await
        .unwrap();
    assert!(raw.headers.get(headers::PUBLISHED_AT).is_none());

    let (_d, got) = fetch_n(deliveries, 1, Duration::from_secs(5)).await;
    let published_at = got[0].envelope.published_at;
    // Same machine, same clock: the stamp falls within the publish call (1 ms of rounding).
    assert!(
        published_at + Duration::from_millis(1) >= before,
        "{published_at:?} < {before:?}"
    );
    assert!(
        published_at <= after + Duration::from_millis(1),
        "{published_at:?} > {after:?}"
    );
    delete_stream(&backend, &topic).await;
}

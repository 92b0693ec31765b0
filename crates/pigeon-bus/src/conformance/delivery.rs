//! Cases about who gets which message, when, and how often.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::Harness;
use super::support::{Recorder, traced_bus, unique};
use crate::{HandlerError, Message, OutgoingMessage, SubscribeOptions, dlq_headers};

/// A message comes out as it went in: id, payload, key and headers, on attempt 1.
pub async fn publish_and_consume(harness: &dyn Harness) {
    let t = traced_bus(harness).await;
    let topic = unique("conf.roundtrip");
    let rec = Recorder::default();
    let sub = rec
        .subscribe(&t.bus, SubscribeOptions::new(&topic, unique("g")))
        .await;
    let id = t
        .bus
        .publish(
            OutgoingMessage::new(&topic, &b"\x00binary\xffpayload"[..])
                .key("k-1")
                .header("X-Custom", "v1"),
        )
        .await
        .unwrap();
    rec.wait_until("one message", |s| !s.is_empty()).await;
    let seen = &rec.seen()[0];
    assert_eq!(seen.id, id);
    assert_eq!(seen.payload, b"\x00binary\xffpayload");
    assert_eq!(seen.key.as_deref(), Some("k-1"));
    assert_eq!(seen.attempt, 1);
    assert_eq!(seen.message.envelope.headers.get("x-custom"), Some("v1"));
    assert_eq!(&*seen.message.envelope.topic, topic.as_str());
    sub.shutdown().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rec.seen().len(), 1, "acked message delivered again");
}

/// Members of one group share the messages (each exactly once); every group gets all of them.
pub async fn groups_share_and_fan_out(harness: &dyn Harness) {
    let t = traced_bus(harness).await;
    let topic = unique("conf.groups");
    let (shared_group, other_group) = (unique("shared"), unique("other"));
    let shared = Recorder::default();
    let other = Recorder::default();
    let mut subs = Vec::new();
    for member in 0..2 {
        let r = shared.clone();
        let options = SubscribeOptions::new(&topic, &shared_group).max_in_flight(4);
        subs.push(
            t.bus
                .subscribe(options, move |m: Message| {
                    let r = r.clone();
                    async move {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        r.record(&m, member);
                        Ok(())
                    }
                })
                .await
                .unwrap(),
        );
    }
    let r = other.clone();
    subs.push(
        t.bus
            .subscribe(
                SubscribeOptions::new(&topic, &other_group),
                move |m: Message| {
                    let r = r.clone();
                    async move {
                        r.record(&m, 9);
                        Ok(())
                    }
                },
            )
            .await
            .unwrap(),
    );
    let n = 200;
    let mut ids = HashSet::new();
    for i in 0..n {
        ids.insert(
            t.bus
                .publish(OutgoingMessage::new(&topic, format!("m{i}")))
                .await
                .unwrap(),
        );
    }
    shared
        .wait_until("the shared group to get all", |s| s.len() >= n)
        .await;
    other
        .wait_until("the other group to get all", |s| s.len() >= n)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let shared_seen = shared.seen();
    assert_eq!(shared_seen.len(), n, "each message once within a group");
    let shared_ids: HashSet<_> = shared_seen.iter().map(|s| s.id.clone()).collect();
    assert_eq!(shared_ids, ids);
    let per_member = |m| shared_seen.iter().filter(|s| s.member == m).count();
    assert!(
        per_member(0) > 0 && per_member(1) > 0,
        "both members got work: {} / {}",
        per_member(0),
        per_member(1)
    );
    let other_ids: HashSet<_> = other.seen().iter().map(|s| s.id.clone()).collect();
    assert_eq!(other_ids, ids);
    for s in subs {
        s.shutdown().await;
    }
}

/// Messages of one key are handled in publish order, one at a time, also when one of them
/// fails and is retried; different keys run concurrently.
pub async fn per_key_order(harness: &dyn Harness) {
    let t = traced_bus(harness).await;
    let topic = unique("conf.order");
    let rec = Recorder::default();
    let r = rec.clone();
    let failed_once = Arc::new(AtomicU32::new(0));
    let f = failed_once.clone();
    let options = SubscribeOptions::new(&topic, unique("g"))
        .max_in_flight(16)
        .backoff(Duration::from_millis(20), Duration::from_millis(50));
    let sub = t
        .bus
        .subscribe(options, move |m: Message| {
            let (r, f) = (r.clone(), f.clone());
            async move {
                let text = String::from_utf8_lossy(m.payload()).into_owned();
                // Vary handling time so a backend that ignores keys would reorder.
                let jitter = text.len() as u64 % 3;
                tokio::time::sleep(Duration::from_millis(jitter)).await;
                if text == "k0-1" && f.fetch_add(1, Ordering::SeqCst) == 0 {
                    return Err(HandlerError::retry("first try of k0-1 fails"));
                }
                r.record(&m, 0);
                Ok(())
            }
        })
        .await
        .unwrap();
    let (keys, per_key) = (4, 25);
    for i in 0..per_key {
        for k in 0..keys {
            t.bus
                .publish(OutgoingMessage::new(&topic, format!("k{k}-{i}")).key(format!("key{k}")))
                .await
                .unwrap();
        }
    }
    rec.wait_until("all keyed messages", |s| s.len() >= keys * per_key)
        .await;
    let mut order: HashMap<String, Vec<usize>> = HashMap::new();
    for s in rec.seen() {
        let text = String::from_utf8(s.payload.clone()).unwrap();
        let (_, n) = text.split_once('-').unwrap();
        order
            .entry(s.key.clone().unwrap())
            .or_default()
            .push(n.parse().unwrap());
    }
    for (key, seq) in &order {
        assert_eq!(seq, &(0..per_key).collect::<Vec<_>>(), "order of {key}");
    }
    assert_eq!(
        failed_once.load(Ordering::SeqCst),
        2,
        "k0-1 failed once, then succeeded"
    );
    sub.shutdown().await;
}

/// A message whose handler does not finish within the ack deadline is delivered again.
pub async fn redelivery_after_ack_deadline(harness: &dyn Harness) {
    let t = traced_bus(harness).await;
    let topic = unique("conf.deadline");
    let rec = Recorder::default();
    let r = rec.clone();
    let options = SubscribeOptions::new(&topic, unique("g"))
        .ack_deadline(Duration::from_millis(1500))
        .drain_timeout(Duration::from_millis(100));
    let sub = t
        .bus
        .subscribe(options, move |m: Message| {
            let r = r.clone();
            async move {
                r.record(&m, 0);
                if m.attempt == 1 {
                    // Never settle the first delivery, like a consumer that hung.
                    std::future::pending::<()>().await;
                }
                Ok(())
            }
        })
        .await
        .unwrap();
    let id = t
        .bus
        .publish(OutgoingMessage::new(&topic, "slow"))
        .await
        .unwrap();
    rec.wait_until("a second delivery", |s| s.iter().any(|s| s.attempt == 2))
        .await;
    let seen = rec.seen();
    assert!(seen.iter().all(|s| s.id == id));
    let first = seen.iter().find(|s| s.attempt == 1).unwrap().at;
    let second = seen.iter().find(|s| s.attempt == 2).unwrap().at;
    assert!(
        second - first >= Duration::from_millis(1000),
        "redelivered only after the deadline: {:?}",
        second - first
    );
    sub.shutdown().await;
}

/// A handler that asks for a retry after a delay gets the message again after that delay.
pub async fn nack_with_delay_redelivers(harness: &dyn Harness) {
    nack_with_delay(harness, None).await;
}

/// The same for a keyed message, which holds its key's lane while it waits.
pub async fn nack_with_delay_redelivers_keyed(harness: &dyn Harness) {
    nack_with_delay(harness, Some("k")).await;
}

async fn nack_with_delay(harness: &dyn Harness, key: Option<&str>) {
    let t = traced_bus(harness).await;
    let topic = unique("conf.nack");
    let rec = Recorder::default();
    let r = rec.clone();
    let sub = t
        .bus
        .subscribe(
            // An ack deadline far beyond the test's patience: the retry must come from the
            // delay, not from the deadline expiring.
            SubscribeOptions::new(&topic, unique("g")).ack_deadline(Duration::from_secs(600)),
            move |m: Message| {
                let r = r.clone();
                async move {
                    r.record(&m, 0);
                    if m.attempt == 1 {
                        // Fail only after the runner went back to waiting for deliveries:
                        // the retry must wake it.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        return Err(HandlerError::retry_after(
                            "not yet",
                            Duration::from_millis(700),
                        ));
                    }
                    Ok(())
                }
            },
        )
        .await
        .unwrap();
    let message = OutgoingMessage::new(&topic, "later");
    let message = match key {
        Some(key) => message.key(key),
        None => message,
    };
    t.bus.publish(message).await.unwrap();
    rec.wait_until("the retry", |s| s.len() >= 2).await;
    let seen = rec.seen();
    assert_eq!((seen[0].attempt, seen[1].attempt), (1, 2));
    assert!(
        seen[1].at - seen[0].at >= Duration::from_millis(600),
        "waited {:?}",
        seen[1].at - seen[0].at
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rec.seen().len(), 2, "acked after the retry");
    sub.shutdown().await;
}

async fn dead_letter_case(
    harness: &dyn Harness,
    fail: HandlerError,
    max_attempts: u32,
    expect_calls: usize,
) {
    let t = traced_bus(harness).await;
    let topic = unique("conf.dlq");
    let calls = Recorder::default();
    let dead = Recorder::default();
    let c = calls.clone();
    let options = SubscribeOptions::new(&topic, unique("g"))
        .max_attempts(max_attempts)
        .backoff(Duration::from_millis(10), Duration::from_millis(20));
    let sub = t
        .bus
        .subscribe(options, move |m: Message| {
            let (c, fail) = (c.clone(), fail.clone());
            async move {
                c.record(&m, 0);
                Err(fail)
            }
        })
        .await
        .unwrap();
    let dlq_sub = dead
        .subscribe(
            &t.bus,
            SubscribeOptions::new(format!("{topic}.dlq"), unique("dlq")),
        )
        .await;
    let id = t
        .bus
        .publish(OutgoingMessage::new(&topic, "poison").key("p"))
        .await
        .unwrap();
    dead.wait_until("the dead letter", |s| !s.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        calls.seen().len(),
        expect_calls,
        "handler calls before dead-lettering"
    );
    let dl = &dead.seen()[0];
    let headers = &dl.message.envelope.headers;
    assert_eq!(dl.payload, b"poison");
    assert_eq!(dl.key.as_deref(), Some("p"));
    assert_eq!(headers.get(dlq_headers::ORIGINAL_ID), Some(id.as_str()));
    assert_eq!(
        headers.get(dlq_headers::ORIGINAL_TOPIC),
        Some(topic.as_str())
    );
    assert_eq!(
        headers.get(dlq_headers::ATTEMPTS),
        Some(expect_calls.to_string().as_str())
    );
    assert!(
        headers
            .get(dlq_headers::REASON)
            .unwrap()
            .contains(&fail_reason()),
        "{headers:?}"
    );
    assert_eq!(dead.seen().len(), 1);
    sub.shutdown().await;
    dlq_sub.shutdown().await;

    // The dead-lettering has a span of its own, with the reason, parent of the dlq publish.
    let spans = t.spans();
    let dl_span = spans
        .iter()
        .find(|s| s.name == format!("dead_letter {topic}"))
        .expect("a dead_letter span");
    let reason = dl_span
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "pigeon.dead_letter.reason")
        .map(|kv| kv.value.to_string())
        .unwrap_or_default();
    assert!(reason.contains(&fail_reason()), "{reason}");
    assert!(matches!(
        dl_span.status,
        opentelemetry::trace::Status::Error { .. }
    ));
    let dlq_send = spans
        .iter()
        .find(|s| s.name == format!("send {topic}.dlq"))
        .expect("the dlq publish span");
    assert_eq!(dlq_send.parent_span_id, dl_span.span_context.span_id());
}

fn fail_reason() -> String {
    "cannot handle this".to_owned()
}

/// A message that keeps failing goes to `{topic}.dlq` with its reason after max attempts.
pub async fn dead_letter_after_max_attempts(harness: &dyn Harness) {
    dead_letter_case(harness, HandlerError::retry(fail_reason()), 3, 3).await;
}

/// A handler can dead-letter a message at once.
pub async fn dead_letter_on_demand(harness: &dyn Harness) {
    dead_letter_case(harness, HandlerError::dead_letter(fail_reason()), 5, 1).await;
}

/// A handler that panics has its message retried, and the subscription keeps running.
pub async fn panicking_handler_is_retried(harness: &dyn Harness) {
    let t = traced_bus(harness).await;
    let topic = unique("conf.panic");
    let rec = Recorder::default();
    let r = rec.clone();
    let options = SubscribeOptions::new(&topic, unique("g"))
        .backoff(Duration::from_millis(10), Duration::from_millis(20));
    let sub = t
        .bus
        .subscribe(options, move |m: Message| {
            let r = r.clone();
            async move {
                r.record(&m, 0);
                if m.payload() == b"boom" && m.attempt == 1 {
                    panic!("handler bug");
                }
                Ok(())
            }
        })
        .await
        .unwrap();
    t.bus
        .publish(OutgoingMessage::new(&topic, "boom"))
        .await
        .unwrap();
    t.bus
        .publish(OutgoingMessage::new(&topic, "after"))
        .await
        .unwrap();
    rec.wait_until("the retry and the next message", |s| {
        s.iter().any(|s| s.payload == b"boom" && s.attempt == 2)
            && s.iter().any(|s| s.payload == b"after")
    })
    .await;
    let process_spans: Vec<_> = t
        .spans()
        .into_iter()
        .filter(|s| s.name.starts_with("process "))
        .collect();
    assert!(
        process_spans.iter().any(|s| matches!(&s.status, opentelemetry::trace::Status::Error { description } if description.contains("handler bug"))),
        "the panic shows as an error span"
    );
    sub.shutdown().await;
}

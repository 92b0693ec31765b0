//! Cases about limits and lifecycle: backpressure, size limits, drain, restart.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;

use super::Harness;
use super::support::{Recorder, traced_bus, unique};
use crate::{Bus, Message, OutgoingMessage, PublishError, SubscribeOptions};

/// A subscriber never has more than `max_in_flight` messages in its handlers, however many wait.
pub async fn backpressure_bounds_in_flight(harness: &dyn Harness) {
    let t = traced_bus(harness).await;
    let topic = unique("conf.backpressure");
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(0));
    let rec = Recorder::default();
    let (r, run, pk, g) = (rec.clone(), running.clone(), peak.clone(), gate.clone());
    let sub = t
        .bus
        .subscribe(
            SubscribeOptions::new(&topic, unique("g")).max_in_flight(3),
            move |m: Message| {
                let (r, run, pk, g) = (r.clone(), run.clone(), pk.clone(), g.clone());
                async move {
                    let now = run.fetch_add(1, Ordering::SeqCst) + 1;
                    pk.fetch_max(now, Ordering::SeqCst);
                    g.acquire().await.unwrap().forget();
                    run.fetch_sub(1, Ordering::SeqCst);
                    r.record(&m, 0);
                    Ok(())
                }
            },
        )
        .await
        .unwrap();
    for i in 0..20 {
        t.bus
            .publish(OutgoingMessage::new(&topic, format!("{i}")))
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + super::support::PATIENCE;
    while running.load(Ordering::SeqCst) < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "three handlers never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        running.load(Ordering::SeqCst),
        3,
        "exactly max_in_flight handlers run"
    );
    gate.add_permits(100);
    rec.wait_until("all twenty", |s| s.len() >= 20).await;
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    sub.shutdown().await;
}

/// A message over the backend's limit is refused with a typed error; smaller ones still pass.
pub async fn oversized_is_refused(harness: &dyn Harness) {
    let t = traced_bus(harness).await;
    let topic = unique("conf.size");
    let max = t.bus.max_message_bytes();
    let err = t
        .bus
        .publish(OutgoingMessage::new(&topic, vec![7u8; max + 1]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PublishError::TooLarge { max: m, size } if m == max && size > max),
        "{err:?}"
    );
    t.bus
        .publish(OutgoingMessage::new(&topic, "small"))
        .await
        .unwrap();
}

/// Shutting a subscription down lets running handlers finish and settle their messages.
pub async fn shutdown_drains_in_flight(harness: &dyn Harness) {
    let t = traced_bus(harness).await;
    let topic = unique("conf.drain");
    let group = unique("g");
    let started = Recorder::default();
    let finished = Recorder::default();
    let (s, f) = (started.clone(), finished.clone());
    let options = SubscribeOptions::new(&topic, &group).ack_deadline(Duration::from_secs(1));
    let sub = t
        .bus
        .subscribe(options.clone(), move |m: Message| {
            let (s, f) = (s.clone(), f.clone());
            async move {
                s.record(&m, 0);
                tokio::time::sleep(Duration::from_millis(500)).await;
                f.record(&m, 0);
                Ok(())
            }
        })
        .await
        .unwrap();
    t.bus
        .publish(OutgoingMessage::new(&topic, "work"))
        .await
        .unwrap();
    started
        .wait_until("the handler to start", |s| !s.is_empty())
        .await;
    sub.shutdown().await;
    assert_eq!(
        finished.seen().len(),
        1,
        "shutdown waited for the running handler"
    );
    let again = Recorder::default();
    let sub = again.subscribe(&t.bus, options).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(
        again.seen().is_empty(),
        "the drained message was settled, not redelivered"
    );
    sub.shutdown().await;
}

/// Messages accepted and not settled before a shutdown are delivered after a re-open; settled
/// ones are not.
pub async fn restart_keeps_unacked(harness: &dyn Harness) {
    assert!(harness.durable(), "restart case needs a durable harness");
    let topic = unique("conf.restart");
    let group = unique("g");
    let options = SubscribeOptions::new(&topic, &group)
        .ack_deadline(Duration::from_secs(1))
        .drain_timeout(Duration::from_millis(100));
    let first = Bus::builder_shared(harness.open().await)
        .tracing(false)
        .build();
    let mut all = Vec::new();
    for i in 0..10 {
        all.push(
            first
                .publish(OutgoingMessage::new(&topic, format!("m{i}")))
                .await
                .unwrap(),
        );
    }
    let acked = Recorder::default();
    let a = acked.clone();
    let sub = first
        .subscribe(options.clone(), move |m: Message| {
            let a = a.clone();
            async move {
                let n: usize = String::from_utf8_lossy(m.payload())[1..].parse().unwrap();
                if n < 4 {
                    a.record(&m, 0);
                    Ok(())
                } else {
                    std::future::pending().await
                }
            }
        })
        .await
        .unwrap();
    acked.wait_until("four acks", |s| s.len() >= 4).await;
    sub.shutdown().await;
    first.shutdown().await;
    drop(first);

    let second = Bus::builder_shared(harness.open().await)
        .tracing(false)
        .build();
    let again = Recorder::default();
    let sub = again.subscribe(&second, options).await;
    again.wait_until("the six unacked", |s| s.len() >= 6).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ids: Vec<_> = again.seen().iter().map(|s| s.id.clone()).collect();
    let unique_ids: HashSet<_> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), 6, "each unacked message once: {ids:?}");
    assert_eq!(unique_ids, all[4..].iter().cloned().collect::<HashSet<_>>());
    sub.shutdown().await;
    second.shutdown().await;
}

//! What only the in-process backend promises: its limits, and its durable log's recovery.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pigeon_bus::{
    Bus, MemoryBackend, MemoryConfig, Message, OutgoingMessage, PublishError, SubscribeOptions,
};

fn config(f: impl FnOnce(&mut MemoryConfig)) -> MemoryConfig {
    let mut c = MemoryConfig::default();
    f(&mut c);
    c
}

async fn count_deliveries(
    bus: &Bus,
    topic: &str,
    group: &str,
    settle_for: Duration,
) -> Vec<String> {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let sub = bus
        .subscribe(SubscribeOptions::new(topic, group), move |m: Message| {
            s.lock()
                .unwrap()
                .push(String::from_utf8_lossy(m.payload()).into_owned());
            std::future::ready(Ok(()))
        })
        .await
        .unwrap();
    tokio::time::sleep(settle_for).await;
    sub.shutdown().await;
    seen.lock().unwrap().clone()
}

#[tokio::test]
async fn a_full_topic_with_a_lagging_group_refuses_after_the_timeout() {
    let backend = MemoryBackend::open(config(|c| {
        c.max_messages_per_topic = 3;
        c.publish_timeout = Duration::from_millis(200);
    }))
    .unwrap();
    let bus = Bus::builder(backend).tracing(false).build();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let g = gate.clone();
    let handled = Arc::new(AtomicUsize::new(0));
    let h = handled.clone();
    let sub = bus
        .subscribe(
            SubscribeOptions::new("full", "slow").max_in_flight(1),
            move |_m: Message| {
                let (g, h) = (g.clone(), h.clone());
                async move {
                    g.acquire().await.unwrap().forget();
                    h.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            },
        )
        .await
        .unwrap();
    for i in 0..3 {
        bus.publish(OutgoingMessage::new("full", format!("{i}")))
            .await
            .unwrap();
    }
    let err = bus
        .publish(OutgoingMessage::new("full", "3"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PublishError::Full { waited_ms } if waited_ms >= 200),
        "{err:?}"
    );
    // Once the group catches up there is room again, and nothing accepted was dropped.
    gate.add_permits(10);
    bus.publish(OutgoingMessage::new("full", "4"))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while handled.load(Ordering::SeqCst) < 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    sub.shutdown().await;
}

#[tokio::test]
async fn with_no_group_the_oldest_messages_make_room() {
    let backend = MemoryBackend::open(config(|c| c.max_messages_per_topic = 3)).unwrap();
    let bus = Bus::builder(backend).tracing(false).build();
    for i in 0..5 {
        bus.publish(OutgoingMessage::new("retained", format!("m{i}")))
            .await
            .unwrap();
    }
    let seen = count_deliveries(&bus, "retained", "late", Duration::from_millis(300)).await;
    assert_eq!(seen, ["m2", "m3", "m4"]);
}

#[tokio::test]
async fn a_torn_tail_is_cut_and_everything_before_it_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let open =
        || MemoryBackend::open(config(|c| c.data_dir = Some(dir.path().to_owned()))).unwrap();
    let bus = Bus::builder(open()).tracing(false).build();
    for i in 0..3 {
        bus.publish(OutgoingMessage::new("torn", format!("m{i}")))
            .await
            .unwrap();
    }
    bus.shutdown().await;
    drop(bus);
    // A crash in the middle of writing a fourth record leaves half of it behind.
    let log = dir.path().join("bus.log");
    let good = std::fs::metadata(&log).unwrap().len();
    let mut bytes = std::fs::read(&log).unwrap();
    let record = bytes[..(good as usize)].to_vec();
    bytes.extend_from_slice(&record[..record.len() / 6]);
    std::fs::write(&log, &bytes).unwrap();

    let bus = Bus::builder(open()).tracing(false).build();
    assert_eq!(
        std::fs::metadata(&log).unwrap().len(),
        good,
        "torn tail cut off"
    );
    bus.publish(OutgoingMessage::new("torn", "m3"))
        .await
        .unwrap();
    let seen = count_deliveries(&bus, "torn", "g", Duration::from_millis(300)).await;
    assert_eq!(seen, ["m0", "m1", "m2", "m3"]);
    bus.shutdown().await;
}

#[tokio::test]
async fn compaction_keeps_what_is_live_and_forgets_what_is_settled() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        MemoryBackend::open(config(|c| {
            c.data_dir = Some(dir.path().to_owned());
            c.compact_after_bytes = 16 << 10;
        }))
        .unwrap()
    };
    let bus = Bus::builder(open()).tracing(false).build();
    let body = "x".repeat(512);
    let sub = bus
        .subscribe(SubscribeOptions::new("compact", "g"), |_m: Message| {
            std::future::ready(Ok(()))
        })
        .await
        .unwrap();
    for i in 0..200 {
        bus.publish(OutgoingMessage::new("compact", format!("{i}{body}")))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    sub.shutdown().await;
    // These three stay unsettled across the restart.
    for i in 0..3 {
        bus.publish(OutgoingMessage::new("compact", format!("live{i}")))
            .await
            .unwrap();
    }
    bus.shutdown().await;
    drop(bus);
    let size = std::fs::metadata(dir.path().join("bus.log")).unwrap().len();
    assert!(size < 200 * 512, "log was compacted: {size} bytes");

    let bus = Bus::builder(open()).tracing(false).build();
    let seen = count_deliveries(&bus, "compact", "g", Duration::from_millis(300)).await;
    assert_eq!(seen, ["live0", "live1", "live2"]);
    bus.shutdown().await;
}

#[tokio::test]
async fn transient_messages_are_delivered_but_never_written_to_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        MemoryBackend::open(config(|c| {
            c.data_dir = Some(dir.path().to_owned());
            c.compact_after_bytes = 4 << 10;
        }))
        .unwrap()
    };
    let bus = Bus::builder(open()).tracing(false).build();
    let publish = |payload: String, transient: bool| {
        let message = OutgoingMessage::new("mixed", payload);
        let message = if transient {
            message.transient()
        } else {
            message
        };
        bus.publish(message)
    };
    // While the process runs they are delivered like the others, in order.
    for i in 0..2 {
        publish(format!("durable{i}"), false).await.unwrap();
        publish(format!("transient{i}"), true).await.unwrap();
    }
    let seen = count_deliveries(&bus, "mixed", "g", Duration::from_millis(300)).await;
    assert_eq!(seen, ["durable0", "transient0", "durable1", "transient1"]);

    // Two left unsettled, then enough on another topic for the log to be compacted (which
    // rewrites what is live in memory) before the restart.
    publish("durable-live".into(), false).await.unwrap();
    publish("transient-live".into(), true).await.unwrap();
    let body = "x".repeat(512);
    for i in 0..20 {
        bus.publish(OutgoingMessage::new("bulk", format!("{i}{body}")))
            .await
            .unwrap();
    }
    bus.shutdown().await;
    drop(bus);
    let log = std::fs::read(dir.path().join("bus.log")).unwrap();
    assert!(
        !log.windows(b"transient".len()).any(|w| w == b"transient"),
        "a transient message reached the log"
    );
    assert!(
        log.windows(b"durable-live".len())
            .any(|w| w == b"durable-live")
    );

    let bus = Bus::builder(open()).tracing(false).build();
    let seen = count_deliveries(&bus, "mixed", "g", Duration::from_millis(300)).await;
    assert_eq!(
        seen,
        ["durable-live"],
        "only the durable one survives a restart"
    );
    bus.shutdown().await;
}

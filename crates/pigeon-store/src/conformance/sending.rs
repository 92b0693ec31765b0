//! Cases about sending: fan-out, idempotent retries, device-list checks, seq allocation.

use std::collections::HashSet;

use super::Harness;
use super::support::{all, message_ids, person, request, send, targets, unique};
use crate::{DeviceId, MailboxItem, SendError, UserDevices, UserId};

/// One send stores one entry per target device (the recipient's devices and the sender's other
/// devices), each with its own ciphertext, and reports each device's seq.
pub async fn send_stores_one_entry_per_target_device(harness: &dyn Harness) {
    let store = harness.open().await;
    let alice = person(&*store, "alice", 2).await;
    let bob = person(&*store, "bob", 2).await;
    let out = send(&*store, &alice, 0, &bob, "m1").await;
    assert!(!out.duplicate);
    let mut expected: Vec<(DeviceId, u64)> = targets(&alice, 0, &bob)
        .into_iter()
        .map(|d| (d, 1))
        .collect();
    expected.sort();
    assert_eq!(out.seqs, expected);
    for device in targets(&alice, 0, &bob) {
        let entries = all(&*store, &device).await;
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].seq, 1);
        match &entries[0].item {
            MailboxItem::Message {
                message_id,
                sender_user,
                sender_device,
                envelope_type,
                ciphertext,
                sent_at_ms,
                trace_context,
            } => {
                assert_eq!(message_id, &out.message_id);
                assert_eq!(
                    trace_context.as_deref(),
                    Some("00-00000000000000000000000000000002-00f067aa0ba902b7-01"),
                    "the send's trace context is kept with each copy"
                );
                assert_eq!(sender_user, &alice.user);
                assert_eq!(sender_device, &alice.devices[0]);
                assert_eq!(*envelope_type, 1);
                assert_eq!(ciphertext, &format!("ct:m1:{device}"));
                assert_eq!(*sent_at_ms, out.sent_at_ms);
            }
            other => panic!("expected a message, got {other:?}"),
        }
        assert_eq!(store.pending_count(device.clone()).await.unwrap(), 1);
    }
    // Nothing for the sending device itself.
    assert!(all(&*store, &alice.devices[0]).await.is_empty());
    // A note to self goes to the sender's other devices.
    let own = send(&*store, &alice, 0, &alice, "note").await;
    assert_eq!(own.seqs, vec![(alice.devices[1].clone(), 2)]);
}

/// A retry with the same client message id returns the original id and stores nothing new.
pub async fn retried_send_returns_the_original(harness: &dyn Harness) {
    let store = harness.open().await;
    let alice = person(&*store, "alice", 1).await;
    let bob = person(&*store, "bob", 1).await;
    let first = send(&*store, &alice, 0, &bob, "m1").await;
    let again = send(&*store, &alice, 0, &bob, "m1").await;
    assert!(again.duplicate);
    assert_eq!(again.message_id, first.message_id);
    assert_eq!(again.sent_at_ms, first.sent_at_ms);
    assert_eq!(again.seqs, first.seqs);
    assert_eq!(
        store.pending_count(bob.devices[0].clone()).await.unwrap(),
        1
    );
    // Still the original even after the recipient's devices changed.
    store
        .add_device(bob.user.clone(), "tablet".into())
        .await
        .unwrap();
    let later = send(&*store, &alice, 0, &bob, "m1").await;
    assert_eq!(later.message_id, first.message_id);
    // The same client id from another device is another message.
    let carol = person(&*store, "carol", 1).await;
    let other = send(&*store, &carol, 0, &alice, "m1").await;
    assert_ne!(other.message_id, first.message_id);
}

/// Copies of one send racing each other store it once; all get the same message id.
pub async fn racing_duplicate_sends_store_once(harness: &dyn Harness) {
    let store = harness.open().await;
    let alice = person(&*store, "alice", 2).await;
    let bob = person(&*store, "bob", 2).await;
    let t = targets(&alice, 0, &bob);
    let req = request(&alice, 0, &bob, "racy", &t);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (store, req) = (store.clone(), req.clone());
        tasks.push(tokio::spawn(async move { store.send(req).await.unwrap() }));
    }
    let mut ids = HashSet::new();
    let mut originals = 0;
    for task in tasks {
        let out = task.await.unwrap();
        ids.insert(out.message_id);
        if !out.duplicate {
            originals += 1;
        }
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(originals, 1);
    for d in &t {
        assert_eq!(store.pending_count(d.clone()).await.unwrap(), 1);
    }
}

/// Copies that miss a device, add one, or name a removed one are refused with the current
/// lists, and nothing is stored.
pub async fn stale_device_lists_are_refused(harness: &dyn Harness) {
    let store = harness.open().await;
    let alice = person(&*store, "alice", 2).await;
    let bob = person(&*store, "bob", 2).await;
    let full = targets(&alice, 0, &bob);
    let mut sorted_bob = bob.devices.clone();
    sorted_bob.sort();
    let expected = vec![
        UserDevices {
            user_id: bob.user.clone(),
            devices: sorted_bob,
        },
        UserDevices {
            user_id: alice.user.clone(),
            devices: vec![alice.devices[1].clone()],
        },
    ];
    let missing = &full[1..];
    let mut extra = full.clone();
    extra.push(DeviceId::generate());
    for (i, wrong) in [missing.to_vec(), extra].into_iter().enumerate() {
        let err = store
            .send(request(&alice, 0, &bob, &format!("bad{i}"), &wrong))
            .await
            .unwrap_err();
        match err {
            SendError::StaleDevices(stale) => assert_eq!(stale.current, expected),
            other => panic!("expected StaleDevices, got {other:?}"),
        }
    }
    let mut twice = full.clone();
    twice.push(full[0].clone());
    assert!(matches!(
        store.send(request(&alice, 0, &bob, "twice", &twice)).await,
        Err(SendError::Invalid(_))
    ));
    for d in &full {
        assert_eq!(store.pending_count(d.clone()).await.unwrap(), 0);
    }
    // After bob removes a device, the old list is stale and the new one works.
    store
        .remove_device(bob.user.clone(), bob.devices[1].clone())
        .await
        .unwrap();
    assert!(matches!(
        store.send(request(&alice, 0, &bob, "old", &full)).await,
        Err(SendError::StaleDevices(_))
    ));
    let now: Vec<DeviceId> = full.into_iter().filter(|d| *d != bob.devices[1]).collect();
    let out = store
        .send(request(&alice, 0, &bob, "new", &now))
        .await
        .unwrap();
    assert_eq!(out.seqs.len(), 2);
    // A stale attempt does not poison its client id: the corrected retry is accepted.
    let out = store
        .send(request(&alice, 0, &bob, "bad0", &now))
        .await
        .unwrap();
    assert!(!out.duplicate);
}

/// Devices added or removed between accepted sends count at the very next send: for the
/// recipient, for the sender's other devices, and for the sending device itself.
pub async fn device_changes_count_at_the_next_send(harness: &dyn Harness) {
    let store = harness.open().await;
    let mut alice = person(&*store, "alice", 2).await;
    let mut bob = person(&*store, "bob", 1).await;
    send(&*store, &alice, 0, &bob, "before").await;
    // Bob adds a device: the list that just worked is stale.
    let tablet = store
        .add_device(bob.user.clone(), "tablet".into())
        .await
        .unwrap();
    let old = targets(&alice, 0, &bob);
    assert!(matches!(
        store.send(request(&alice, 0, &bob, "old-bob", &old)).await,
        Err(SendError::StaleDevices(_))
    ));
    bob.devices.push(tablet.device_id);
    let out = send(&*store, &alice, 0, &bob, "new-bob").await;
    assert_eq!(out.seqs.len(), 3, "bob's two devices and alice's other one");
    // Alice removes her other device: a copy for it is stale, and the device cannot send.
    store
        .remove_device(alice.user.clone(), alice.devices[1].clone())
        .await
        .unwrap();
    let old = targets(&alice, 0, &bob);
    assert!(matches!(
        store
            .send(request(&alice, 0, &bob, "old-alice", &old))
            .await,
        Err(SendError::StaleDevices(_))
    ));
    let gone = alice.devices.remove(1);
    let t = targets(&alice, 0, &bob);
    let mut from_gone = request(&alice, 0, &bob, "from-gone", &t);
    from_gone.sender_device = gone;
    assert!(matches!(
        store.send(from_gone).await,
        Err(SendError::UnknownSender)
    ));
    assert_eq!(send(&*store, &alice, 0, &bob, "after").await.seqs.len(), 2);
}

/// Sending to a user that does not exist, or from a device that does not, is a typed error.
pub async fn unknown_recipient_is_refused(harness: &dyn Harness) {
    let store = harness.open().await;
    let alice = person(&*store, "alice", 1).await;
    let mut ghost = person(&*store, "ghost", 1).await;
    ghost.user = UserId::generate();
    let t = targets(&alice, 0, &ghost);
    assert_eq!(
        store
            .send(request(&alice, 0, &ghost, "m", &t))
            .await
            .unwrap_err(),
        SendError::UnknownRecipient
    );
    let bob = person(&*store, "bob", 1).await;
    let mut req = request(&alice, 0, &bob, &unique("m"), &bob.devices);
    req.sender_device = DeviceId::generate();
    assert_eq!(store.send(req).await.unwrap_err(), SendError::UnknownSender);
    assert_eq!(
        store.pending_count(bob.devices[0].clone()).await.unwrap(),
        0
    );
}

/// Many concurrent sends from several senders to one user: every target device sees seqs
/// 1..=n without gaps or repeats, and every message exactly once.
pub async fn concurrent_sends_keep_seqs_gapless(harness: &dyn Harness) {
    let store = harness.open().await;
    let bob = std::sync::Arc::new(person(&*store, "bob", 2).await);
    let (senders, per_sender) = (6, 25);
    let mut tasks = Vec::new();
    for s in 0..senders {
        let alice = person(&*store, &format!("alice{s}"), 1).await;
        let (store, bob) = (store.clone(), bob.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..per_sender {
                ids.push(
                    send(&*store, &alice, 0, &bob, &format!("m{i}"))
                        .await
                        .message_id,
                );
            }
            ids
        }));
    }
    let mut sent = HashSet::new();
    for t in tasks {
        sent.extend(t.await.unwrap());
    }
    let n = senders * per_sender;
    assert_eq!(sent.len(), n);
    for d in &bob.devices {
        let entries = all(&*store, d).await;
        let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
        let want: Vec<u64> = (1..=n as u64).collect();
        assert_eq!(seqs, want);
        let got: HashSet<_> = message_ids(&entries).into_iter().collect();
        assert_eq!(got, sent);
    }
}

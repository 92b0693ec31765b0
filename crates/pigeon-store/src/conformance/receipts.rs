//! Cases about delivery and read receipts.

use super::Harness;
use super::support::{all, person, send, send_numbered, seq_in};
use crate::{Acked, DeviceId, MailboxItem, MessageId, StoreError};

/// Acking a message records its delivery: the first ack by each target device appends a
/// receipt to every current device of the sender and says where; acking a receipt appends
/// nothing; a second ack is a no-op.
pub async fn delivery_receipts_reach_every_sender_device(harness: &dyn Harness) {
    let store = harness.open().await;
    let alice = person(&*store, "alice", 2).await;
    let bob = person(&*store, "bob", 2).await;
    let sent = send(&*store, &alice, 0, &bob, "m1").await;
    let m = sent.message_id.clone();
    let seq_of = |d: &DeviceId| seq_in(&sent, d);
    let before: Vec<usize> = {
        let mut v = Vec::new();
        for d in &alice.devices {
            v.push(all(&*store, d).await.len());
        }
        v
    };
    let mut woken = Vec::new();
    for d in &bob.devices {
        let Acked::Message(delivery) = store.ack(d.clone(), seq_of(d)).await.unwrap() else {
            panic!("the ack of a message is a delivery");
        };
        assert_eq!(delivery.message_id, m);
        assert_eq!(delivery.sender_user, alice.user);
        assert_eq!(delivery.sent_at_ms, sent.sent_at_ms);
        assert_eq!(
            delivery
                .receipts
                .iter()
                .map(|(d, _)| d.clone())
                .collect::<Vec<_>>(),
            alice.devices,
            "a receipt for every device of the sender"
        );
        woken.extend(delivery.receipts);
        assert_eq!(
            store.ack(d.clone(), seq_of(d)).await.unwrap(),
            Acked::Already,
            "idempotent"
        );
    }
    for (d, n) in alice.devices.iter().zip(before) {
        let entries = all(&*store, d).await;
        let receipts: Vec<_> = entries[n..]
            .iter()
            .map(|e| match &e.item {
                MailboxItem::DeliveryReceipt {
                    message_id,
                    by_user,
                    by_device,
                    ..
                } => {
                    assert_eq!(message_id, &m);
                    assert_eq!(by_user, &bob.user);
                    assert!(woken.contains(&(d.clone(), e.seq)), "the seq it said");
                    by_device.clone()
                }
                other => panic!("expected a delivery receipt, got {other:?}"),
            })
            .collect();
        assert_eq!(
            receipts, bob.devices,
            "one receipt per acking device, in order"
        );
        // Acking a receipt is no delivery: nothing more is appended anywhere.
        let seq = entries[n].seq;
        assert_eq!(store.ack(d.clone(), seq).await.unwrap(), Acked::Receipt);
    }
    // The copy for the sender's other device: its ack tells the sender's devices too.
    let own = alice.devices[1].clone();
    let Acked::Message(delivery) = store.ack(own.clone(), seq_of(&own)).await.unwrap() else {
        panic!("the ack of a message is a delivery");
    };
    assert_eq!(delivery.receipts.len(), alice.devices.len());
    for d in &bob.devices {
        assert!(
            !all(&*store, d)
                .await
                .iter()
                .any(|e| matches!(e.item, MailboxItem::DeliveryReceipt { .. })),
            "the recipient's devices get no receipts of their own acks"
        );
    }
}

/// "Read up to here" advances only forward in server order; each advance appends a read
/// receipt to every device of the sender; only the recipient can mark its messages read.
pub async fn read_receipts_never_move_backwards(harness: &dyn Harness) {
    let store = harness.open().await;
    let alice = person(&*store, "alice", 2).await;
    let bob = person(&*store, "bob", 1).await;
    let eve = person(&*store, "eve", 1).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            send(&*store, &alice, 0, &bob, &format!("m{i}"))
                .await
                .message_id,
        );
    }
    let read_receipts = |entries: Vec<crate::MailboxEntry>| {
        entries
            .into_iter()
            .filter_map(|e| match e.item {
                MailboxItem::ReadReceipt {
                    peer_user,
                    up_to_message_id,
                    ..
                } => Some((peer_user, up_to_message_id)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let read =
        |up_to: &MessageId| store.record_read(bob.user.clone(), alice.user.clone(), up_to.clone());
    let first = read(&ids[1]).await.unwrap().expect("the mark advances");
    assert!(read(&ids[1]).await.unwrap().is_none(), "same mark: no-op");
    assert!(read(&ids[0]).await.unwrap().is_none(), "older mark: no-op");
    let second = read(&ids[2]).await.unwrap().expect("the mark advances");
    for d in &alice.devices {
        assert_eq!(
            read_receipts(all(&*store, d).await),
            vec![
                (bob.user.clone(), ids[1].clone()),
                (bob.user.clone(), ids[2].clone())
            ]
        );
    }
    // Each advance says where its receipts went: every device of the sender, at that seq.
    for (woken, up_to) in [(&first, &ids[1]), (&second, &ids[2])] {
        assert_eq!(
            woken.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>(),
            alice.devices
        );
        for (d, seq) in woken {
            let entries = all(&*store, d).await;
            let entry = entries
                .iter()
                .find(|e| e.seq == *seq)
                .expect("the seq it said");
            assert!(
                matches!(&entry.item, MailboxItem::ReadReceipt { up_to_message_id, .. } if up_to_message_id == up_to),
                "{entry:?}"
            );
        }
    }
    // Only the recipient may mark a message read, and only as from its real sender.
    let err = store
        .record_read(eve.user.clone(), alice.user.clone(), ids[2].clone())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Forbidden(_)), "{err:?}");
    let err = store
        .record_read(bob.user.clone(), eve.user.clone(), ids[2].clone())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Forbidden(_)), "{err:?}");
    let err = store
        .record_read(bob.user.clone(), alice.user.clone(), MessageId::generate())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    // The direction is its own conversation mark: alice reading bob's messages starts fresh.
    let reply = send(&*store, &bob, 0, &alice, "r0").await.message_id;
    assert!(
        store
            .record_read(alice.user.clone(), bob.user.clone(), reply)
            .await
            .unwrap()
            .is_some()
    );
}

/// `ack_many` acks in the order given, in one transaction: one answer per seq (a seq repeated
/// is `Already` the second time), receipts appended in that order; a seq never assigned
/// anywhere in the list refuses the whole list and acks nothing.
pub async fn acks_of_many_seqs_are_all_or_nothing(harness: &dyn Harness) {
    let store = harness.open().await;
    let alice = person(&*store, "alice", 1).await;
    let bob = person(&*store, "bob", 1).await;
    let (a, b) = (alice.devices[0].clone(), bob.devices[0].clone());
    let ids = send_numbered(&*store, &alice, &bob, 4).await;
    for bad in [vec![3, 1, 5], vec![0, 2]] {
        let err = store.ack_many(b.clone(), bad.clone()).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{bad:?}: {err:?}");
    }
    assert_eq!(
        store.pending_count(b.clone()).await.unwrap(),
        4,
        "nothing acked"
    );
    assert!(all(&*store, &a).await.is_empty(), "no receipt fanned out");

    let acked = store.ack_many(b.clone(), vec![3, 1, 3]).await.unwrap();
    let delivered: Vec<_> = acked
        .iter()
        .map(|outcome| match outcome {
            Acked::Message(delivery) => Some(delivery.message_id.clone()),
            Acked::Already => None,
            Acked::Receipt => panic!("bob's mailbox holds messages only"),
        })
        .collect();
    assert_eq!(
        delivered,
        [Some(ids[2].clone()), Some(ids[0].clone()), None]
    );
    let left: Vec<u64> = all(&*store, &b).await.iter().map(|e| e.seq).collect();
    assert_eq!(left, [2, 4]);
    let receipts = all(&*store, &a).await;
    let receipted: Vec<_> = receipts
        .iter()
        .map(|e| match &e.item {
            MailboxItem::DeliveryReceipt { message_id, .. } => message_id.clone(),
            other => panic!("expected a delivery receipt, got {other:?}"),
        })
        .collect();
    assert_eq!(receipted, [ids[2].clone(), ids[0].clone()], "in ack order");

    let receipt_seqs = receipts.iter().map(|e| e.seq).collect();
    assert_eq!(
        store.ack_many(a.clone(), receipt_seqs).await.unwrap(),
        [Acked::Receipt, Acked::Receipt]
    );
    assert!(
        store
            .ack_many(a.clone(), Vec::new())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(all(&*store, &a).await.is_empty());
    assert!(matches!(
        store.ack_many(DeviceId::generate(), vec![1]).await,
        Err(StoreError::NotFound(_))
    ));
}

//! Cases about delivery and read receipts.

use super::Harness;
use super::support::{all, person, send};
use crate::{MailboxItem, MessageId, StoreError};

/// The first delivery record by a target device appends a receipt to every current device of
/// the sender; repeating it is a no-op; devices the message was not addressed to are refused.
pub async fn delivery_receipts_reach_every_sender_device(harness: &dyn Harness) {
    let store = harness.open().await;
    let alice = person(&*store, "alice", 2).await;
    let bob = person(&*store, "bob", 2).await;
    let eve = person(&*store, "eve", 1).await;
    let m = send(&*store, &alice, 0, &bob, "m1").await.message_id;
    let before: Vec<usize> = {
        let mut v = Vec::new();
        for d in &alice.devices {
            v.push(all(&*store, d).await.len());
        }
        v
    };
    assert!(
        store
            .record_delivery(bob.devices[0].clone(), m.clone())
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_delivery(bob.devices[0].clone(), m.clone())
            .await
            .unwrap(),
        "idempotent"
    );
    assert!(
        store
            .record_delivery(bob.devices[1].clone(), m.clone())
            .await
            .unwrap()
    );
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
                    by_device.clone()
                }
                other => panic!("expected a delivery receipt, got {other:?}"),
            })
            .collect();
        assert_eq!(
            receipts, bob.devices,
            "one receipt per acking device, in order"
        );
    }
    let err = store
        .record_delivery(eve.devices[0].clone(), m.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Forbidden(_)), "{err:?}");
    let err = store
        .record_delivery(alice.devices[0].clone(), m.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Forbidden(_)),
        "the sending device: {err:?}"
    );
    let err = store
        .record_delivery(bob.devices[0].clone(), MessageId::generate())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
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
    assert!(read(&ids[1]).await.unwrap());
    assert!(!read(&ids[1]).await.unwrap(), "same mark: no-op");
    assert!(!read(&ids[0]).await.unwrap(), "older mark: no-op");
    assert!(read(&ids[2]).await.unwrap());
    for d in &alice.devices {
        assert_eq!(
            read_receipts(all(&*store, d).await),
            vec![
                (bob.user.clone(), ids[1].clone()),
                (bob.user.clone(), ids[2].clone())
            ]
        );
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
    );
}

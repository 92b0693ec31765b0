//! Restart durability: everything acknowledged to a caller is there after a re-open.

use super::Harness;
use super::support::{all, person, send, send_numbered};
use crate::{Acked, KeyUpload, SignedKey};

fn key(id: &str) -> SignedKey {
    SignedKey {
        key_id: id.into(),
        public_key: format!("pk-{id}"),
        signature: format!("sig-{id}"),
    }
}

/// Accounts, tokens, keys and claims, messages, acks, receipts, read marks, idempotency records
/// and push subscriptions all survive closing the store and opening it again; seqs continue.
pub async fn restart_keeps_everything_acknowledged(harness: &dyn Harness) {
    let store = harness.open().await;
    let alice = person(&*store, "alice", 2).await;
    let bob = person(&*store, "bob", 1).await;
    let bd = bob.devices[0].clone();
    store
        .upload_keys(
            bd.clone(),
            KeyUpload {
                identity: Some("identity".into()),
                one_time_keys: vec![key("k1"), key("k2"), key("k3")],
                fallback: Some(key("fb")),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.claim_key(bd.clone()).await.unwrap().unwrap().key,
        key("k1")
    );
    let ids = send_numbered(&*store, &alice, &bob, 4).await;
    let acked = store.ack(bd.clone(), 1).await.unwrap();
    assert!(
        matches!(&acked, Acked::Message(d) if d.message_id == ids[0]),
        "{acked:?}"
    );
    assert!(
        store
            .record_read(bob.user.clone(), alice.user.clone(), ids[2].clone())
            .await
            .unwrap()
            .is_some()
    );
    store
        .set_push_subscription(bd.clone(), "{\"endpoint\":\"e\"}".into())
        .await
        .unwrap();
    let alice_box = all(&*store, &alice.devices[0]).await;
    let bob_box = all(&*store, &bd).await;
    store.close().await;
    drop(store);

    let store = harness.open().await;
    assert_eq!(
        store
            .authenticate(bob.tokens[0].clone())
            .await
            .unwrap()
            .map(|a| a.device_id),
        Some(bd.clone())
    );
    assert_eq!(store.devices(alice.user.clone()).await.unwrap().len(), 2);
    assert_eq!(
        store.identity_keys(bd.clone()).await.unwrap().as_deref(),
        Some("identity")
    );
    assert_eq!(store.one_time_key_count(bd.clone()).await.unwrap(), 2);
    assert_eq!(
        store.claim_key(bd.clone()).await.unwrap().unwrap().key,
        key("k2"),
        "a key claimed before the restart is not handed out again"
    );
    assert_eq!(all(&*store, &bd).await, bob_box);
    assert_eq!(all(&*store, &alice.devices[0]).await, alice_box);
    assert_eq!(bob_box.first().map(|e| e.seq), Some(2), "the ack survived");
    let retry = send(&*store, &alice, 0, &bob, "m3").await;
    assert!(retry.duplicate);
    assert_eq!(retry.message_id, ids[3]);
    assert_eq!(
        store.ack(bd.clone(), 1).await.unwrap(),
        Acked::Already,
        "the ack and its delivery survived"
    );
    assert!(
        store
            .record_read(bob.user.clone(), alice.user.clone(), ids[1].clone())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .push_subscription(bd.clone())
            .await
            .unwrap()
            .as_deref(),
        Some("{\"endpoint\":\"e\"}")
    );
    let next = send(&*store, &alice, 0, &bob, "after").await;
    assert!(next.seqs.contains(&(bd.clone(), 5)), "{:?}", next.seqs);
    store.close().await;
}

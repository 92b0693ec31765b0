//! Several stores on one database, as several `pigeon serve` nodes would be: they see each
//! other's writes, and the guarantees the conformance suite checks within one store (gapless
//! seqs, racing duplicate sends stored once, each key claimed once) hold across them. Also:
//! nodes starting at once migrate once, and a newer schema is refused.
//!
//! Without a database the tests skip (outside CI) or fail (with `CI=true`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::sync::Arc;

use pigeon_store::{
    DeviceCopy, DeviceId, KeyUpload, MailboxItem, SendRequest, SignedKey, Store, StoreError, UserId,
};
use pigeon_store_postgres::PostgresStore;
use support::TestSchema;

/// Two stores on one fresh schema, connected at once (so both run the migrations).
async fn two_nodes(schema: &TestSchema) -> (Arc<PostgresStore>, Arc<PostgresStore>) {
    let (a, b) = tokio::join!(
        PostgresStore::connect_with(schema.config()),
        PostgresStore::connect_with(schema.config()),
    );
    (Arc::new(a.unwrap()), Arc::new(b.unwrap()))
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// A user with `n` devices.
async fn person(store: &dyn Store, name: &str, n: usize) -> (UserId, Vec<DeviceId>) {
    let account = store
        .create_user(unique(name), "first".into())
        .await
        .unwrap();
    let mut devices = vec![account.device_id];
    for i in 1..n {
        let d = store
            .add_device(account.user_id.clone(), format!("device {i}"))
            .await
            .unwrap();
        devices.push(d.device_id);
    }
    (account.user_id, devices)
}

/// A send from a sender's only device to every device of the recipient.
fn request(sender: &DeviceId, recipient: &UserId, to: &[DeviceId], id: &str) -> SendRequest {
    SendRequest {
        sender_device: sender.clone(),
        client_msg_id: id.into(),
        recipient_user: recipient.clone(),
        copies: to
            .iter()
            .map(|d| DeviceCopy {
                device_id: d.clone(),
                envelope_type: 0,
                ciphertext: format!("ct:{id}:{d}"),
            })
            .collect(),
        trace_context: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_see_each_others_writes_and_keep_seqs_gapless() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let (a, b) = two_nodes(&schema).await;

    // Accounts made on one node are there on the other.
    let name = unique("alice");
    let alice = a.create_user(name.clone(), "laptop".into()).await.unwrap();
    assert_eq!(
        b.user_by_name(name).await.unwrap(),
        Some(alice.user_id.clone())
    );
    let who = b.authenticate(alice.token.clone()).await.unwrap().unwrap();
    assert_eq!(who.device_id, alice.device_id);
    let phone = b
        .add_device(alice.user_id.clone(), "phone".into())
        .await
        .unwrap();
    assert_eq!(a.devices(alice.user_id.clone()).await.unwrap().len(), 2);
    b.remove_device(alice.user_id.clone(), phone.device_id.clone())
        .await
        .unwrap();
    assert_eq!(a.authenticate(phone.token).await.unwrap(), None);

    // Senders on both nodes send to bob at once; every send also races a copy of itself on
    // the other node.
    let (bob, bob_devices) = person(&*b, "bob", 2).await;
    let (senders, per_sender) = (6, 15);
    let mut tasks = Vec::new();
    for s in 0..senders {
        let (mine, other) = if s % 2 == 0 {
            (a.clone(), b.clone())
        } else {
            (b.clone(), a.clone())
        };
        let (_, sender) = person(&*mine, &format!("sender{s}"), 1).await;
        let (bob, to) = (bob.clone(), bob_devices.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..per_sender {
                let req = request(&sender[0], &bob, &to, &format!("m{i}"));
                let (x, y) = tokio::join!(mine.send(req.clone()), other.send(req));
                let (x, y) = (x.unwrap(), y.unwrap());
                assert_eq!(x.message_id, y.message_id, "one message for both copies");
                assert_eq!(x.seqs, y.seqs);
                assert!(x.duplicate != y.duplicate, "exactly one stored it");
                ids.push(x.message_id);
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
    for d in &bob_devices {
        let from_a = a.fetch(d.clone(), 0, 10_000).await.unwrap();
        let from_b = b.fetch(d.clone(), 0, 10_000).await.unwrap();
        assert_eq!(from_a, from_b, "both nodes read the same mailbox");
        let seqs: Vec<u64> = from_a.iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs,
            (1..=n as u64).collect::<Vec<_>>(),
            "gapless, no repeats"
        );
        let got: HashSet<_> = from_a
            .iter()
            .filter_map(|e| match &e.item {
                MailboxItem::Message { message_id, .. } => Some(message_id.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(got, sent, "every message exactly once");
    }
    // An ack on one node hides the entry on the other.
    assert!(a.ack(bob_devices[0].clone(), 1).await.unwrap().newly());
    assert!(!b.ack(bob_devices[0].clone(), 1).await.unwrap().newly());
    assert_eq!(
        b.pending_count(bob_devices[0].clone()).await.unwrap(),
        n as u64 - 1
    );
    // A closed node refuses further calls; the other carries on.
    a.close().await;
    assert!(matches!(
        a.pending_count(bob_devices[0].clone()).await,
        Err(StoreError::Backend(_))
    ));
    assert!(b.pending_count(bob_devices[0].clone()).await.is_ok());
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_on_two_nodes_never_share_a_key() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let (a, b) = two_nodes(&schema).await;
    let (_, devices) = person(&*a, "keys", 1).await;
    let device = devices[0].clone();
    let keys = 40;
    let key = |id: String| SignedKey {
        public_key: format!("pk-{id}"),
        signature: format!("sig-{id}"),
        key_id: id,
    };
    a.upload_keys(
        device.clone(),
        KeyUpload {
            one_time_keys: (0..keys).map(|i| key(format!("otk{i}"))).collect(),
            fallback: Some(key("fb".into())),
            ..KeyUpload::default()
        },
    )
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for t in 0..8 {
        let node = if t % 2 == 0 { a.clone() } else { b.clone() };
        let device = device.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..6 {
                got.push(node.claim_key(device.clone()).await.unwrap().unwrap());
            }
            got
        }));
    }
    let mut one_time = HashSet::new();
    let mut fallbacks = 0;
    for t in tasks {
        for claimed in t.await.unwrap() {
            if claimed.fallback {
                fallbacks += 1;
            } else {
                assert!(one_time.insert(claimed.key.key_id.clone()), "claimed twice");
            }
        }
    }
    assert_eq!(one_time.len(), keys);
    assert_eq!(fallbacks, 48 - keys);
    assert_eq!(b.one_time_key_count(device).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_at_once_migrate_once_and_refuse_a_newer_schema() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let config = schema.config();
    let nodes =
        futures::future::join_all((0..4).map(|_| PostgresStore::connect_with(config.clone())))
            .await;
    for node in &nodes {
        assert!(node.is_ok(), "{node:?}");
    }
    let db = schema.client().await;
    let versions: Vec<i64> = db
        .query("SELECT version FROM schema_version", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    // One row, at the latest version (2: the mailbox's trace context).
    assert_eq!(versions, [2]);

    // A later connect finds the schema current and changes nothing.
    PostgresStore::connect_with(config.clone()).await.unwrap();
    let count: i64 = db
        .query_one("SELECT count(*) FROM schema_version", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);

    // A database from a newer build is refused, not written to.
    db.batch_execute("UPDATE schema_version SET version = version + 1")
        .await
        .unwrap();
    let err = PostgresStore::connect_with(config).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Backend(ref m) if m.contains("newer")),
        "{err:?}"
    );
}

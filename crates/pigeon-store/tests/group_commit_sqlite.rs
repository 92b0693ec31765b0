//! SQLite group commit: concurrent sends share commits, and every one is still durable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use pigeon_store::{DeviceCopy, SendRequest, SqliteStore, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pigeon.db");
    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    let bob = store
        .create_user("bob".into(), "phone".into())
        .await
        .unwrap();
    let (senders, per_sender) = (16, 25);
    let mut alices = Vec::new();
    for s in 0..senders {
        alices.push(
            store
                .create_user(format!("alice{s}"), "laptop".into())
                .await
                .unwrap(),
        );
    }
    let before = store.commit_stats();
    let mut tasks = Vec::new();
    for alice in alices {
        let (store, bob_user, bob_device) =
            (store.clone(), bob.user_id.clone(), bob.device_id.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..per_sender {
                store
                    .send(SendRequest {
                        sender_device: alice.device_id.clone(),
                        client_msg_id: format!("m{i}"),
                        recipient_user: bob_user.clone(),
                        copies: vec![DeviceCopy {
                            device_id: bob_device.clone(),
                            envelope_type: 1,
                            ciphertext: "ct".into(),
                        }],
                        trace_context: None,
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let after = store.commit_stats();
    let commits = after.commits - before.commits;
    let requests = after.requests - before.requests;
    assert_eq!(requests, senders * per_sender);
    assert!(
        commits < requests,
        "{requests} concurrent sends took {commits} commits: no group commit"
    );
    assert_eq!(
        store.pending_count(bob.device_id.clone()).await.unwrap(),
        senders * per_sender
    );
    store.close().await;
    drop(store);
    let reopened = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        reopened.pending_count(bob.device_id.clone()).await.unwrap(),
        senders * per_sender
    );
}

/// One request that fails inside a batch rolls back alone; the others in the batch commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_request_does_not_fail_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("p.db")).await.unwrap());
    let names: Vec<String> = (0..50).map(|i| format!("user{}", i % 25)).collect();
    let results = futures::future::join_all(
        names
            .iter()
            .map(|n| store.create_user(n.clone(), "d".into())),
    )
    .await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 25, "each name once; the duplicates fail alone");
    for i in 0..25 {
        assert!(
            store
                .user_by_name(format!("user{i}"))
                .await
                .unwrap()
                .is_some()
        );
    }
    // A refused device name fails alone too (refused before anything is written).
    let results = futures::future::join_all((0..20).map(|i| {
        let device = if i % 2 == 0 { "d" } else { "" };
        store.create_user(format!("other{i}"), device.into())
    }))
    .await;
    for (i, result) in results.iter().enumerate() {
        match result {
            Ok(_) => assert_eq!(i % 2, 0, "other{i} has no device name"),
            Err(err) => assert!(
                i % 2 == 1 && matches!(err, pigeon_store::StoreError::Invalid(_)),
                "other{i}: {err}"
            ),
        }
    }
}

/// A store refuses work after `close`, with a backend error rather than a hang.
#[tokio::test]
async fn closed_store_refuses_work() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("p.db")).await.unwrap();
    store.close().await;
    assert!(matches!(
        store.create_user("x".into(), "d".into()).await,
        Err(pigeon_store::StoreError::Backend(_))
    ));
}

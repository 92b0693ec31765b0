//! `kill -9` of `pigeon serve` during a send load: every send the server accepted is delivered
//! after a restart, and nothing acked comes back. And a restart owes offline devices their
//! pushes: the in-process bus keeps delivery notices in memory only, so the server
//! re-announces what is still unacked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use pigeon_client::{Client, Event};
use serde_json::{Value, json};

mod support;

fn serve(dir: &std::path::Path, listen: &str) -> (support::Serve, String) {
    let serve = support::Serve::start(
        dir,
        listen,
        &[
            ("PIGEON_SENDS_PER_SECOND", "100000"),
            ("PIGEON_SEND_BURST", "100000"),
        ],
    );
    let addr = serve.addr.clone();
    (serve, addr)
}

/// A server on a fresh port of `dir`, its address, and two users on it.
async fn alice_and_bob(dir: &std::path::Path) -> (support::Serve, String, Client, Client) {
    let (server, addr) = serve(dir, "127.0.0.1:0");
    let base = format!("http://{addr}");
    let alice = Client::register(&base, "alice", "phone").await.unwrap();
    let bob = Client::register(&base, "bob", "phone").await.unwrap();
    (server, addr, alice, bob)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_sends_survive_kill_9_and_acked_ones_do_not_return() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr, alice, bob) = alice_and_bob(dir.path()).await;
    let bob_id = bob.credentials().user_id.clone();

    // Four senders until the server dies; each remembers what the server accepted.
    let accepted = Arc::new(Mutex::new(HashSet::new()));
    let mut senders = Vec::new();
    for lane in 0..4 {
        let (alice, bob_id, accepted) = (alice.clone(), bob_id.clone(), accepted.clone());
        senders.push(tokio::spawn(async move {
            for i in 0.. {
                match alice.send_text(&bob_id, &format!("{lane}-{i}")).await {
                    Ok(sent) => {
                        accepted.lock().unwrap().insert(sent.message_id);
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while accepted.lock().unwrap().len() < 200 {
        assert!(Instant::now() < deadline, "the server accepted too little");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(server); // SIGKILL: no shutdown, no flush
    for s in senders {
        s.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();

    let (_server, _) = serve(dir.path(), &addr);
    let mut live = bob.connect().await.unwrap();
    let mut received = HashSet::new();
    while !accepted.is_subset(&received) {
        let event = tokio::time::timeout(Duration::from_secs(20), live.next_event())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{} accepted sends missing",
                    accepted.difference(&received).count()
                )
            })
            .unwrap();
        if let Event::Message { message_id, .. } = event {
            received.insert(message_id);
        }
    }
    // Sends whose answer the crash cut off may have been stored too: take those as well, until
    // nothing more arrives.
    while let Ok(event) = tokio::time::timeout(Duration::from_secs(1), live.next_event()).await {
        if let Event::Message { message_id, .. } = event.unwrap() {
            received.insert(message_id);
        }
    }
    // Everything was acked: a new connection gets nothing old.
    live.close().await;
    let mut live = bob.connect().await.unwrap();
    if let Ok(event) = tokio::time::timeout(Duration::from_secs(1), live.next_event()).await {
        let event = event.unwrap();
        assert!(
            !matches!(event, Event::Message { .. }),
            "an acked message came back: {event:?}"
        );
    }
}

/// A webhook receiver on loopback: the message id of every push it gets.
async fn webhook() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(push): axum::Json<Value>| {
            let s = s.clone();
            async move {
                let id = push["message_id"].as_str().unwrap().to_owned();
                s.lock().unwrap().push(id);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// The pushes so far, once there are `n` (or after 10 s).
async fn pushes_when(seen: &Arc<Mutex<Vec<String>>>, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lock().unwrap().len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_pushes_again_what_an_offline_device_is_still_owed() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr, alice, bob) = alice_and_bob(dir.path()).await;
    let base = format!("http://{addr}");
    let bob_id = bob.credentials().user_id.clone();
    let (hook, pushes) = webhook().await;
    let http = reqwest::Client::new();
    let token = bob.credentials().token.clone();
    let status = http
        .put(format!("{base}/v1/push"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(json!({"kind": "webhook", "url": hook}).to_string())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Bob is offline: each message is pushed once (two pushes under way at once may arrive
    // in either order).
    let owed = alice.send_text(&bob_id, "still owed").await.unwrap();
    let acked = alice.send_text(&bob_id, "acked").await.unwrap();
    let mut seen = pushes_when(&pushes, 2).await;
    seen.sort();
    let mut sent = [owed.message_id.clone(), acked.message_id.clone()];
    sent.sort();
    assert_eq!(seen, sent);
    // Bob syncs the second over HTTP and acks it (his mailbox: seq 1, then 2).
    let answer = http
        .post(format!("{base}/v1/mailbox/ack"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(json!({"seqs": [2]}).to_string())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["acked"], json!([2]));

    drop(server); // SIGKILL
    pushes.lock().unwrap().clear();
    let (server, _) = serve(dir.path(), &addr);
    let seen = pushes_when(&pushes, 1).await;
    assert_eq!(
        seen,
        [owed.message_id],
        "pushed again: only the unacked one"
    );
    let logs = server.logs.lock().unwrap().join("\n");
    assert!(
        logs.contains("re-announced recent messages") && logs.contains("messages=1"),
        "{logs}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(pushes.lock().unwrap().len(), 1, "and only once");
}

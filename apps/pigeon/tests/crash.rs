//! `kill -9` of `pigeon serve` during a send load: every send the server accepted is delivered
//! after a restart, and nothing acked comes back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pigeon_client::{Client, Event};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_sends_survive_kill_9_and_acked_ones_do_not_return() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr) = serve(dir.path(), "127.0.0.1:0");
    let base = format!("http://{addr}");
    let alice = Client::register(&base, "alice", "phone").await.unwrap();
    let bob = Client::register(&base, "bob", "phone").await.unwrap();
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

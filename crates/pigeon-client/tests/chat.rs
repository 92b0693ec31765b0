//! Two users chatting through a real server (HTTP + WebSocket on loopback, SQLite file, the
//! in-process bus), each device a real SDK client with its own Olm account.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use pigeon_client::{Client, Connection, Event};

async fn server() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = pigeon_store::SqliteStore::open(dir.path().join("dm.sqlite"))
        .await
        .unwrap();
    let bus = pigeon_bus::Bus::new(pigeon_bus::MemoryBackend::new());
    let state = pigeon_dm::DmState::new(Arc::new(store), bus, pigeon_dm::DmConfig::default(), None);
    let delivery = pigeon_dm::DeliveryRouter::start(&state).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _delivery = delivery;
        axum::serve(listener, pigeon_dm::router(state)).await
    });
    (base, dir)
}

async fn next(connection: &mut Connection) -> Event {
    tokio::time::timeout(Duration::from_secs(10), connection.next_event())
        .await
        .expect("an event within 10 s")
        .unwrap()
}

async fn next_message(connection: &mut Connection) -> (String, String) {
    loop {
        if let Event::Message {
            message_id, text, ..
        } = next(connection).await
        {
            return (message_id, text);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_with_two_devices_each_chat_with_receipts() {
    let (base, _dir) = server().await;
    let alice = Client::register(&base, "alice", "phone").await.unwrap();
    let alice_laptop = alice.add_device("laptop").await.unwrap();
    let bob = Client::register(&base, "bob", "phone").await.unwrap();
    let bob_tablet = bob.add_device("tablet").await.unwrap();
    let bob_id = alice.find_user("bob").await.unwrap();
    assert_eq!(bob_id, bob.credentials().user_id);

    let mut alice_live = alice.connect().await.unwrap();
    let mut laptop_live = alice_laptop.connect().await.unwrap();
    let mut bob_live = bob.connect().await.unwrap();
    let mut tablet_live = bob_tablet.connect().await.unwrap();

    let sent = alice.send_text(&bob_id, "hello bob").await.unwrap();
    assert!(!sent.duplicate);
    for live in [&mut bob_live, &mut tablet_live, &mut laptop_live] {
        assert_eq!(
            next_message(live).await,
            (sent.message_id.clone(), "hello bob".to_owned())
        );
    }
    // A delivery receipt per recipient device reaches the sender (and one for the copy on
    // her laptop, which names the laptop, in whatever order the acks came).
    let mut delivered = Vec::new();
    while delivered.len() < 2 {
        if let Event::Delivered {
            message_id,
            by_user,
            by_device,
        } = next(&mut alice_live).await
        {
            assert_eq!(message_id, sent.message_id);
            if by_user == bob_id {
                delivered.push(by_device);
            }
        }
    }
    delivered.sort();
    let mut expected = vec![
        bob.credentials().device_id.clone(),
        bob_tablet.credentials().device_id.clone(),
    ];
    expected.sort();
    assert_eq!(delivered, expected);

    // Bob answers on a session Alice started: a normal message now, both ways.
    let reply = bob
        .send_text(&alice.credentials().user_id, "hi alice")
        .await
        .unwrap();
    assert_eq!(
        next_message(&mut alice_live).await,
        (reply.message_id.clone(), "hi alice".into())
    );
    // Bob's tablet gets Bob's own reply too: the sender's other devices get their copy.
    assert_eq!(
        next_message(&mut tablet_live).await,
        (reply.message_id.clone(), "hi alice".into())
    );
    assert_eq!(
        next_message(&mut laptop_live).await,
        (reply.message_id.clone(), "hi alice".into())
    );
    let again = alice.send_text(&bob_id, "second").await.unwrap();
    assert_eq!(next_message(&mut bob_live).await.1, "second");
    assert_eq!(next_message(&mut tablet_live).await.1, "second");

    // Read receipt: "read up to `again`" reaches both of Alice's devices.
    bob_live
        .mark_read(&alice.credentials().user_id, &again.message_id)
        .await
        .unwrap();
    for live in [&mut alice_live, &mut laptop_live] {
        loop {
            if let Event::Read { reader, up_to } = next(live).await {
                assert_eq!(
                    (reader.as_str(), up_to.as_str()),
                    (bob_id.as_str(), again.message_id.as_str())
                );
                break;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_recipient_gets_every_message_in_order_once() {
    let (base, _dir) = server().await;
    let alice = Client::register(&base, "alice", "phone").await.unwrap();
    let bob = Client::register(&base, "bob", "phone").await.unwrap();
    let bob_id = bob.credentials().user_id.clone();
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(
            alice
                .send_text(&bob_id, &format!("message {i}"))
                .await
                .unwrap()
                .message_id,
        );
    }
    let mut bob_live = bob.connect().await.unwrap();
    for (i, id) in sent.iter().enumerate() {
        assert_eq!(
            next_message(&mut bob_live).await,
            (id.clone(), format!("message {i}"))
        );
    }
    bob_live.close().await;
    // Everything was acked: a new connection gets nothing old, then the next message.
    let mut bob_live = bob.connect().await.unwrap();
    let later = alice.send_text(&bob_id, "later").await.unwrap();
    assert_eq!(
        next_message(&mut bob_live).await,
        (later.message_id, "later".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_device_continues_its_conversations_after_loading() {
    let (base, _dir) = server().await;
    let files = tempfile::tempdir().unwrap();
    let alice = Client::register(&base, "alice", "phone").await.unwrap();
    let bob = Client::register(&base, "bob", "phone").await.unwrap();
    let bob_id = bob.credentials().user_id.clone();
    let mut bob_live = bob.connect().await.unwrap();
    alice.send_text(&bob_id, "before").await.unwrap();
    assert_eq!(next_message(&mut bob_live).await.1, "before");
    bob_live.close().await;

    let profile = files.path().join("bob.json");
    bob.save(&profile).unwrap();
    let key = std::fs::metadata(files.path().join("bob.json.key")).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    drop(bob);

    let bob = Client::load(&profile).unwrap();
    let mut bob_live = bob.connect().await.unwrap();
    alice.send_text(&bob_id, "after").await.unwrap();
    assert_eq!(
        next_message(&mut bob_live).await.1,
        "after",
        "the Olm session survived the restart"
    );
    let reply = bob
        .send_text(&alice.credentials().user_id, "still me")
        .await
        .unwrap();
    assert!(!reply.message_id.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_go_over_the_socket_or_http_and_each_arrives_once() {
    let (base, _dir) = server().await;
    let alice = Client::register(&base, "alice", "phone").await.unwrap();
    let bob = Client::register(&base, "bob", "phone").await.unwrap();
    let bob_id = bob.credentials().user_id.clone();
    let mut bob_live = bob.connect().await.unwrap();
    let alice_live = alice.connect().await.unwrap();
    // Give the hello (which says how large a frame may be) a moment to arrive.
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Over the socket, many at once: each answered with its own id.
    let first = alice.send_text(&bob_id, "first").await.unwrap();
    let sends = (0..20).map(|i| {
        let (alice, bob_id) = (alice.clone(), bob_id.clone());
        tokio::spawn(async move { alice.send_text(&bob_id, &format!("burst {i}")).await })
    });
    let mut ids = vec![first.message_id];
    for send in sends {
        ids.push(send.await.unwrap().unwrap().message_id);
    }
    // Larger than a frame may be: over HTTP.
    let big = "x".repeat(30_000);
    ids.push(alice.send_text(&bob_id, &big).await.unwrap().message_id);
    // With the connection closed: over HTTP.
    alice_live.close().await;
    ids.push(alice.send_text(&bob_id, "last").await.unwrap().message_id);

    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "one message id per send");
    let mut got = Vec::new();
    while got.len() < ids.len() {
        let (id, text) = next_message(&mut bob_live).await;
        if text == big {
            got.push((id, "big".to_owned()));
        } else {
            got.push((id, text));
        }
    }
    let mut got_ids: Vec<_> = got.iter().map(|(id, _)| id.clone()).collect();
    got_ids.sort();
    assert_eq!(got_ids, unique, "every message arrived, once");
    assert_eq!(got[0].1, "first");
    assert_eq!(got[21].1, "big");
    assert_eq!(got[22].1, "last");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_connection_stops_instead_of_taking_the_device_back() {
    let (base, _dir) = server().await;
    let alice = Client::register(&base, "alice", "phone").await.unwrap();
    let bob = Client::register(&base, "bob", "phone").await.unwrap();
    let mut first = bob.connect().await.unwrap();
    let mut second = bob.connect().await.unwrap();
    let replaced = tokio::time::timeout(Duration::from_secs(10), first.next_event())
        .await
        .expect("the first connection hears within 10 s")
        .unwrap_err();
    assert!(replaced.to_string().contains("replaced"), "{replaced}");
    // Longer than a reconnect's first backoff: the newer connection keeps the device.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = alice
        .send_text(&bob.credentials().user_id, "to the newer one")
        .await
        .unwrap();
    assert_eq!(next_message(&mut second).await.0, sent.message_id);
}

/// A server on a runtime of its own, in a thread: stopping it ends every task of it, its
/// sockets with them, as a crashed server would.
fn stoppable_server() -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let (base, _dir) = server().await;
            tx.send(base).unwrap();
            let _ = stopped.await;
        });
    });
    (rx.recv().unwrap(), stop, thread)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_whose_server_went_away_still_closes_and_sends_fail_at_once() {
    let (base, stop, thread) = stoppable_server();
    let alice = Client::register(&base, "alice", "phone").await.unwrap();
    let bob = Client::register(&base, "bob", "phone").await.unwrap();
    let bob_id = bob.credentials().user_id.clone();
    alice.send_text(&bob_id, "while up").await.unwrap();
    let live = alice.connect().await.unwrap();
    stop.send(()).unwrap();
    tokio::task::spawn_blocking(move || thread.join().unwrap())
        .await
        .unwrap();
    // The driver is now between reconnect attempts; it still answers.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let failed = tokio::time::timeout(Duration::from_secs(5), alice.send_text(&bob_id, "down"))
        .await
        .expect("a send to a server that is gone fails within 5 s");
    assert!(
        matches!(failed, Err(pigeon_client::ClientError::Transport(_))),
        "{failed:?}"
    );
    tokio::time::timeout(Duration::from_secs(5), live.close())
        .await
        .expect("closing a connection whose server is gone takes no reconnect");
}

//! Web Push fallback of the DM server, end to end with real peers: a real server on loopback,
//! devices registering a Web Push subscription (fresh P-256 keys and auth secret) through
//! `PUT /v1/push`, live sessions over real WebSockets, and a recording push service on
//! 127.0.0.1 (pigeon-push's test endpoint).
//!
//! Proven, with third-party code as the judge (Python `http_ece` for RFC 8291, Python
//! `cryptography` for the RFC 8292 VAPID JWT):
//! * a message not acked within the ack timeout, and a message for an offline device, reach
//!   the push service as an `aes128gcm` body that decrypts, with the subscriber's private key
//!   and auth secret, to `{"type":"message","message_id","sender"}` and nothing of the message;
//!   the request carries `TTL`, `Content-Encoding` and a VAPID JWT signed by the key the server
//!   publishes at `GET /v1/push/vapid`, for the endpoint's origin, not yet expired;
//! * a push service answering 410 Gone gets the subscription deleted, and is not called again;
//! * an acked message, and receipts (acked or not, sender online or not), never push.
//!
//! The library-level checks of the same formats live in pigeon-push's tests; these prove the
//! DM server wires them up: when it pushes, to whom, with what, and what it does with a 410.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../pigeon-push/tests/support/mod.rs"]
mod push_support;
mod support;

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use pigeon_dm::DmConfig;
use pigeon_store::{DeviceId, SqliteStore, Store as _};
use push_support::{Endpoint, Recorded, Reply, Subscriber, python_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Client, Server, encrypt_for, register, start, upload_keys};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as Ws;

const ACK_TIMEOUT: Duration = Duration::from_millis(400);
/// The VAPID `sub` of `PushConfig::default()`, which `support::start` builds its pusher from.
const VAPID_SUBJECT: &str = "mailto:admin@localhost";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn server() -> Server {
    server_with(ACK_TIMEOUT).await
}

async fn server_with(ack_timeout: Duration) -> Server {
    start(DmConfig {
        ack_timeout,
        ..DmConfig::default()
    })
    .await
}

/// Alice, and bob with keys and a Web Push subscription at a fresh endpoint answering
/// `replies` (then 201) on `path`.
async fn alice_and_pushable_bob(
    server: &Server,
    replies: Vec<Reply>,
    path: &str,
) -> (Client, Client, Endpoint, Subscriber) {
    let alice = register(server, "alice").await;
    let mut bob = register(server, "bob").await;
    upload_keys(server, &mut bob, 20).await;
    let endpoint = Endpoint::start(replies).await;
    let push = subscribe(server, &bob, &endpoint.url(path)).await;
    (alice, bob, endpoint, push)
}

/// Registers a fresh Web Push subscriber for `client`'s device at `endpoint`.
async fn subscribe(server: &Server, client: &Client, endpoint: &str) -> Subscriber {
    let subscriber = Subscriber::new();
    let registration = json!({
        "kind": "web_push",
        "endpoint": endpoint,
        "p256dh": subscriber.p256dh(),
        "auth": subscriber.auth(),
    });
    let (status, body) = server
        .call("PUT", "/v1/push", Some(&client.token), Some(registration))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    subscriber
}

/// A live session, authenticated the browser way (`?access_token=`); returns after `hello`.
async fn session(server: &Server, client: &Client) -> Socket {
    let url = format!("{}?access_token={}", server.ws, client.token);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(frame(&mut socket).await["type"], "hello");
    socket
}

/// The next text frame, as JSON.
async fn frame(socket: &mut Socket) -> Value {
    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), socket.next()).await;
        if let Ws::Text(text) = next.expect("a frame within 10 s").unwrap().unwrap() {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

async fn send_frame(socket: &mut Socket, frame: Value) {
    socket
        .send(Ws::Text(frame.to_string().into()))
        .await
        .unwrap();
}

/// `from` sends `text` to `to`; returns the message id and the Olm ciphertext body sent.
async fn message(server: &Server, from: &Client, to: &Client, text: &str) -> (String, String) {
    let ciphertext = encrypt_for(server, from, to, text).await;
    let client_msg_id = text.replace(' ', "-");
    let body = json!({"client_msg_id": client_msg_id, "recipient": to.user_id, "ciphertexts": [ciphertext]});
    let (status, answer) = server
        .call("POST", "/v1/messages", Some(&from.token), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let id = answer["message_id"].as_str().unwrap().to_owned();
    (id, ciphertext["body"].as_str().unwrap().to_owned())
}

/// Waits up to 5 s for the endpoint to have received `n` requests; returns them all.
async fn requests(endpoint: &Endpoint, n: usize) -> Vec<Recorded> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while endpoint.requests().len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    endpoint.requests()
}

/// Runs one of pigeon-push's Python peers (`crates/pigeon-push/tests/python/<script>`).
fn python(script: &str, args: &[&str]) -> Vec<u8> {
    let path = format!(
        "{}/../pigeon-push/tests/python/{script}",
        env!("CARGO_MANIFEST_DIR")
    );
    let output = std::process::Command::new("python3")
        .arg(path)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} refused: {stderr}");
    output.stdout
}

/// The push as the subscriber's browser would read it: decrypted by `http_ece`.
fn decrypt(request: &Recorded, subscriber: &Subscriber) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body.bin");
    std::fs::write(&body, &request.body).unwrap();
    let plaintext = python(
        "decrypt_webpush.py",
        &[
            body.to_str().unwrap(),
            &subscriber.private_key(),
            &subscriber.auth(),
        ],
    );
    serde_json::from_slice(&plaintext).unwrap()
}

/// Checks a Web Push request as a push service would: method, RFC 8030/8291 headers, and the
/// VAPID JWT (verified by `cryptography` against the server's published key: ES256
/// signature, `aud` = the endpoint's origin, `sub`, `exp` in the future and at most 24 h away).
fn check_request(request: &Recorded, path: &str, endpoint: &Endpoint, vapid_key: &str) {
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", path)
    );
    assert_eq!(request.header("content-encoding"), Some("aes128gcm"));
    assert_eq!(
        request.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(request.header("ttl"), Some("86400"));
    assert_eq!(request.header("urgency"), Some("high"));
    let claims = python(
        "verify_vapid.py",
        &[
            request.header("authorization").expect("a VAPID header"),
            vapid_key,
            &endpoint.origin,
            VAPID_SUBJECT,
        ],
    );
    let claims: Value = serde_json::from_slice(&claims).unwrap();
    assert_eq!(claims["aud"], endpoint.origin.as_str(), "port kept in aud");
}

/// Asserts the decrypted notice names the message and its sender and holds nothing else.
fn check_notice(notice: &Value, message_id: &str, sender: &Client, secrets: &[&str]) {
    assert_eq!(
        notice,
        &json!({"type": "message", "message_id": message_id, "sender": sender.user_id}),
    );
    for secret in secrets {
        assert!(!notice.to_string().contains(secret), "content leaked");
    }
}

async fn vapid_key(server: &Server) -> String {
    let (status, body) = server.call("GET", "/v1/push/vapid", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["public_key"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_and_offline_messages_are_web_pushed_ids_only() {
    if !python_with(&["http_ece", "cryptography"]) {
        return;
    }
    let server = server().await;
    let vapid = vapid_key(&server).await;
    let (alice, bob, endpoint, bob_push) =
        alice_and_pushable_bob(&server, vec![], "/wpush/bob-phone").await;

    // Connected, the delivery arrives, never acked: one push once the ack timeout is over.
    let mut bob_ws = session(&server, &bob).await;
    let sent_at = Instant::now();
    let (unacked, olm_body) = message(&server, &alice, &bob, "meet at noon").await;
    let deliver = frame(&mut bob_ws).await;
    assert_eq!(
        deliver["entry"]["message_id"],
        unacked.as_str(),
        "{deliver}"
    );
    let pushed = requests(&endpoint, 1).await;
    assert_eq!(pushed.len(), 1);
    assert!(
        pushed[0].at - sent_at >= ACK_TIMEOUT,
        "pushed {:?} after the send, before the ack timeout",
        pushed[0].at - sent_at
    );
    check_request(&pushed[0], "/wpush/bob-phone", &endpoint, &vapid);
    assert!(
        !pushed[0]
            .body
            .windows(unacked.len())
            .any(|w| w == unacked.as_bytes()),
        "the body is encrypted"
    );
    let notice = decrypt(&pushed[0], &bob_push);
    check_notice(&notice, &unacked, &alice, &["meet at noon", &olm_body]);

    // Once only: no second push for the same delivery while the session stays.
    tokio::time::sleep(ACK_TIMEOUT * 3).await;
    assert_eq!(endpoint.requests().len(), 1, "one push per delivery");

    // Offline: pushed without waiting for any ack.
    drop(bob_ws);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (offline, olm_body) = message(&server, &alice, &bob, "bring snacks").await;
    let pushed = requests(&endpoint, 2).await;
    assert_eq!(pushed.len(), 2);
    check_request(&pushed[1], "/wpush/bob-phone", &endpoint, &vapid);
    let notice = decrypt(&pushed[1], &bob_push);
    check_notice(&notice, &offline, &alice, &["bring snacks", &olm_body]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_subscription_is_deleted_and_not_pushed_again() {
    let server = server().await;
    let (alice, bob, endpoint, _) =
        alice_and_pushable_bob(&server, vec![Reply::status(410)], "/wpush/expired").await;
    // There is no API to read a push target back; a second handle on the server's database
    // reads it through the public `Store` trait.
    let store = SqliteStore::open(server.dir.path().join("dm.sqlite"))
        .await
        .unwrap();
    let device = DeviceId::from_string(bob.device_id.clone());
    let stored = store.push_subscription(device.clone()).await.unwrap();
    assert!(stored.is_some_and(|s| s.contains("/wpush/expired")));

    // Offline: pushed at once; the push service says 410 Gone.
    message(&server, &alice, &bob, "first").await;
    assert_eq!(requests(&endpoint, 1).await.len(), 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    while store
        .push_subscription(device.clone())
        .await
        .unwrap()
        .is_some()
    {
        assert!(Instant::now() < deadline, "the subscription outlived a 410");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // Connected and not acking, then offline again: nothing reaches the gone endpoint.
    let mut bob_ws = session(&server, &bob).await;
    frame(&mut bob_ws).await;
    let (unacked, _) = message(&server, &alice, &bob, "second").await;
    loop {
        if frame(&mut bob_ws).await["entry"]["message_id"] == unacked.as_str() {
            break;
        }
    }
    tokio::time::sleep(ACK_TIMEOUT * 3).await;
    drop(bob_ws);
    tokio::time::sleep(Duration::from_millis(200)).await;
    message(&server, &alice, &bob, "third").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        endpoint.requests().len(),
        1,
        "a gone endpoint is not called"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acked_messages_and_receipts_never_push() {
    let server = server().await;
    let mut alice = register(&server, "alice").await;
    let mut bob = register(&server, "bob").await;
    upload_keys(&server, &mut alice, 20).await;
    upload_keys(&server, &mut bob, 20).await;
    let endpoint = Endpoint::start(vec![]).await;
    subscribe(&server, &alice, &endpoint.url("/wpush/alice")).await;
    subscribe(&server, &bob, &endpoint.url("/wpush/bob")).await;
    let mut alice_ws = session(&server, &alice).await;
    let mut bob_ws = session(&server, &bob).await;

    // Bob acks at once; Alice gets the receipts live and never acks them.
    let (first, _) = message(&server, &alice, &bob, "acked").await;
    let deliver = frame(&mut bob_ws).await;
    assert_eq!(deliver["entry"]["message_id"], first.as_str());
    send_frame(
        &mut bob_ws,
        json!({"type": "ack", "seq": deliver["entry"]["seq"]}),
    )
    .await;
    let receipt = frame(&mut alice_ws).await;
    assert_eq!(receipt["entry"]["kind"], "delivery_receipt", "{receipt}");
    send_frame(
        &mut bob_ws,
        json!({"type": "read", "peer": alice.user_id, "up_to": first}),
    )
    .await;
    let read = frame(&mut alice_ws).await;
    assert_eq!(read["entry"]["kind"], "read_receipt", "{read}");
    tokio::time::sleep(ACK_TIMEOUT * 3).await;

    // Alice offline: her receipts wait in her mailbox, unpushed.
    drop(alice_ws);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (second, _) = message(&server, &alice, &bob, "acked too").await;
    let deliver = frame(&mut bob_ws).await;
    assert_eq!(deliver["entry"]["message_id"], second.as_str());
    send_frame(
        &mut bob_ws,
        json!({"type": "ack", "seq": deliver["entry"]["seq"]}),
    )
    .await;
    send_frame(
        &mut bob_ws,
        json!({"type": "read", "peer": alice.user_id, "up_to": second}),
    )
    .await;
    tokio::time::sleep(ACK_TIMEOUT * 3).await;
    let pushed: Vec<String> = endpoint.requests().into_iter().map(|r| r.path).collect();
    assert!(pushed.is_empty(), "pushed to {pushed:?}");

    // The receipts were made: Alice finds them when she reconnects.
    let mut alice_ws = session(&server, &alice).await;
    let mut kinds = Vec::new();
    while kinds.len() < 4 {
        kinds.push(frame(&mut alice_ws).await["entry"]["kind"].clone());
    }
    assert_eq!(
        kinds.iter().filter(|k| *k == "read_receipt").count(),
        2,
        "{kinds:?}"
    );
}

/// A device that takes a delivery and drops the connection before acking (an app closed) is
/// still pushed once its ack timeout is over — not earlier, and not at all for a message it
/// acks on a new connection within that time.
#[tokio::test]
async fn a_delivery_dropped_before_its_ack_is_pushed_at_the_timeout() {
    if !python_with(&["http_ece", "cryptography"]) {
        return;
    }
    let server = server().await;
    let (alice, bob, endpoint, bob_push) =
        alice_and_pushable_bob(&server, vec![], "/wpush/bob-phone").await;

    let mut bob_ws = session(&server, &bob).await;
    let sent_at = Instant::now();
    let (dropped, olm_body) = message(&server, &alice, &bob, "are you there").await;
    let deliver = frame(&mut bob_ws).await;
    assert_eq!(
        deliver["entry"]["message_id"],
        dropped.as_str(),
        "{deliver}"
    );
    drop(bob_ws);
    let pushed = requests(&endpoint, 1).await;
    assert_eq!(pushed.len(), 1);
    assert!(
        pushed[0].at - sent_at >= ACK_TIMEOUT,
        "pushed {:?} after the send, before the ack timeout",
        pushed[0].at - sent_at
    );
    let notice = decrypt(&pushed[0], &bob_push);
    check_notice(&notice, &dropped, &alice, &["are you there", &olm_body]);

    // Dropped, then acked on a new connection within the timeout: no push. A timeout long
    // enough that the reconnect and ack surely come first, even on a loaded machine.
    let patient = Duration::from_secs(2);
    let server = server_with(patient).await;
    let (alice, bob, endpoint, _) =
        alice_and_pushable_bob(&server, vec![], "/wpush/bob-phone").await;
    let mut bob_ws = session(&server, &bob).await;
    let (acked, _) = message(&server, &alice, &bob, "second").await;
    let deliver = frame(&mut bob_ws).await;
    assert_eq!(deliver["entry"]["message_id"], acked.as_str(), "{deliver}");
    drop(bob_ws);
    let mut bob_ws = session(&server, &bob).await;
    let again = frame(&mut bob_ws).await;
    assert_eq!(again["entry"]["message_id"], acked.as_str(), "{again}");
    send_frame(
        &mut bob_ws,
        json!({"type": "ack", "seq": again["entry"]["seq"]}),
    )
    .await;
    tokio::time::sleep(patient + Duration::from_secs(1)).await;
    assert!(
        endpoint.requests().is_empty(),
        "no push for a message acked in time"
    );
}

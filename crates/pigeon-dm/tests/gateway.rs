//! Live delivery over real WebSockets on loopback: order, acks, receipts, resend on reconnect,
//! push after the ack timeout (to a real local webhook), and bad frames.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use pigeon_crypto::{Ciphertext, MessageType};
use pigeon_dm::DmConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Client, Server, encrypt_for, push_to_webhook, register, start, upload_keys};
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(server: &Server, client: &Client) -> Socket {
    let mut request = server.ws.as_str().into_client_request().unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", client.token).parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let hello = next_frame(&mut socket).await;
    assert_eq!(hello["type"], "hello", "{hello}");
    socket
}

async fn next_frame(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s")
            .expect("the socket is open")
            .unwrap();
        if let Ws::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

async fn no_frame_for(socket: &mut Socket, wait: Duration) {
    if let Ok(Some(Ok(Ws::Text(text)))) = tokio::time::timeout(wait, socket.next()).await {
        panic!("unexpected frame {text}");
    }
}

/// The code of the close frame the server sends next (within 5 s).
async fn close_code(socket: &mut Socket) -> u16 {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .unwrap()
        {
            Some(Ok(Ws::Close(Some(close)))) => return u16::from(close.code),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

async fn ack(socket: &mut Socket, seq: &Value) {
    socket
        .send(Ws::Text(
            json!({"type": "ack", "seq": seq}).to_string().into(),
        ))
        .await
        .unwrap();
}

async fn send(server: &Server, from: &Client, to: &Client, text: &str, id: &str) -> String {
    let body = json!({"client_msg_id": id, "recipient": to.user_id, "ciphertexts": [encrypt_for(server, from, to, text).await]});
    let (status, answer) = server
        .call("POST", "/v1/messages", Some(&from.token), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer["message_id"].as_str().unwrap().to_owned()
}

/// Sends `n` messages with client ids `m0`, `m1`, …; returns their ids in order.
async fn send_numbered(server: &Server, from: &Client, to: &Client, n: usize) -> Vec<String> {
    let mut sent = Vec::with_capacity(n);
    for i in 0..n {
        sent.push(send(server, from, to, &format!("message {i}"), &format!("m{i}")).await);
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_delivery_acks_and_receipts_flow_both_ways() {
    let server = start(DmConfig::default()).await;
    let alice = register(&server, "alice").await;
    let mut bob = register(&server, "bob").await;
    upload_keys(&server, &mut bob, 20).await;
    let mut alice_ws = connect(&server, &alice).await;
    let mut bob_ws = connect(&server, &bob).await;

    let message_id = send(&server, &alice, &bob, "live hello", "m1").await;
    let frame = next_frame(&mut bob_ws).await;
    assert_eq!(frame["type"], "deliver");
    let entry = &frame["entry"];
    assert_eq!(
        (entry["kind"].as_str(), entry["message_id"].as_str()),
        (Some("message"), Some(message_id.as_str()))
    );
    let ciphertext = Ciphertext {
        message_type: MessageType::PreKey,
        body: entry["body"].as_str().unwrap().into(),
    };
    let (_, plaintext) = bob
        .olm
        .inbound(&alice.olm.identity_key(), &ciphertext)
        .unwrap();
    assert_eq!(plaintext, b"live hello");
    ack(&mut bob_ws, &entry["seq"]).await;

    let receipt = next_frame(&mut alice_ws).await;
    assert_eq!(receipt["entry"]["kind"], "delivery_receipt", "{receipt}");
    assert_eq!(receipt["entry"]["message_id"], message_id.as_str());
    ack(&mut alice_ws, &receipt["entry"]["seq"]).await;

    bob_ws
        .send(Ws::Text(
            json!({"type": "read", "peer": alice.user_id, "up_to": message_id})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let read = next_frame(&mut alice_ws).await;
    assert_eq!(read["entry"]["kind"], "read_receipt", "{read}");
    assert_eq!(read["entry"]["reader"], bob.user_id.as_str());

    bob_ws
        .send(Ws::Text(r#"{"type":"ping","nonce":7}"#.into()))
        .await
        .unwrap();
    assert_eq!(
        next_frame(&mut bob_ws).await,
        json!({"type": "pong", "nonce": 7})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_device_gets_everything_in_order_once_after_reconnecting() {
    let server = start(DmConfig::default()).await;
    let alice = register(&server, "alice").await;
    let mut bob = register(&server, "bob").await;
    upload_keys(&server, &mut bob, 20).await;
    let sent = send_numbered(&server, &alice, &bob, 3).await;
    let mut bob_ws = connect(&server, &bob).await;
    let mut seqs = Vec::new();
    for id in &sent {
        let frame = next_frame(&mut bob_ws).await;
        assert_eq!(frame["entry"]["message_id"], id.as_str(), "in send order");
        seqs.push(frame["entry"]["seq"].clone());
    }
    no_frame_for(&mut bob_ws, Duration::from_millis(300)).await;
    ack(&mut bob_ws, &seqs[0]).await;
    ack(&mut bob_ws, &seqs[1]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(bob_ws);

    let mut bob_ws = connect(&server, &bob).await;
    let frame = next_frame(&mut bob_ws).await;
    assert_eq!(
        frame["entry"]["message_id"],
        sent[2].as_str(),
        "only the unacked one comes back"
    );
    no_frame_for(&mut bob_ws, Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_written_together_are_all_recorded_even_when_the_client_closes_at_once() {
    let server = start(DmConfig::default()).await;
    let alice = register(&server, "alice").await;
    let mut bob = register(&server, "bob").await;
    upload_keys(&server, &mut bob, 20).await;
    let sent = send_numbered(&server, &alice, &bob, 5).await;
    let mut bob_ws = connect(&server, &bob).await;
    let mut seqs = Vec::new();
    for _ in &sent {
        seqs.push(next_frame(&mut bob_ws).await["entry"]["seq"].clone());
    }
    // Every ack and the close in one write: the session reads them back to back, so they are
    // still waiting to be recorded together when the close ends the session.
    for seq in &seqs {
        let frame = json!({"type": "ack", "seq": seq}).to_string();
        bob_ws.feed(Ws::Text(frame.into())).await.unwrap();
    }
    bob_ws.send(Ws::Close(None)).await.unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = support::mailbox(&server, &bob).await;
        if left.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "acked entries still in the mailbox: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let receipts: Vec<_> = support::mailbox(&server, &alice)
        .await
        .iter()
        .map(|e| (e["kind"].clone(), e["message_id"].clone()))
        .collect();
    let expected: Vec<_> = sent
        .iter()
        .map(|id| (json!("delivery_receipt"), json!(id)))
        .collect();
    assert_eq!(receipts, expected, "one receipt per ack, in ack order");
    let mut bob_ws = connect(&server, &bob).await;
    no_frame_for(&mut bob_ws, Duration::from_millis(300)).await;
}

async fn wait_for_pushes(seen: &Arc<Mutex<Vec<Value>>>, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        if seen.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    seen.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_and_offline_deliveries_fall_back_to_push_without_content() {
    let server = start(DmConfig {
        ack_timeout: Duration::from_millis(400),
        ..DmConfig::default()
    })
    .await;
    let alice = register(&server, "alice").await;
    let mut bob = register(&server, "bob").await;
    upload_keys(&server, &mut bob, 20).await;
    let pushes = push_to_webhook(&server, &bob).await;

    // Connected but never acking: pushed after the timeout.
    let mut bob_ws = connect(&server, &bob).await;
    let unacked = send(&server, &alice, &bob, "do not ack", "m1").await;
    next_frame(&mut bob_ws).await;
    let seen = wait_for_pushes(&pushes, 1).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["message_id"], unacked.as_str());
    assert_eq!(seen[0]["sender"], alice.user_id.as_str());
    assert!(
        !seen[0].to_string().contains("do not ack"),
        "no content in a push"
    );

    // Acked in time: no push.
    let acked = send(&server, &alice, &bob, "ack me", "m2").await;
    let frame = next_frame(&mut bob_ws).await;
    assert_eq!(frame["entry"]["message_id"], acked.as_str());
    ack(&mut bob_ws, &frame["entry"]["seq"]).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        pushes.lock().unwrap().len(),
        1,
        "no push for an acked message"
    );

    // Not connected: pushed at once.
    drop(bob_ws);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let offline = send(&server, &alice, &bob, "offline", "m3").await;
    let seen = wait_for_pushes(&pushes, 2).await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1]["message_id"], offline.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_and_missing_tokens_are_refused_with_close_codes() {
    let server = start(DmConfig::default()).await;
    let bob = register(&server, "bob").await;

    let err = tokio_tungstenite::connect_async(server.ws.as_str())
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(response) => assert_eq!(response.status(), 401),
        other => panic!("expected a 401, got {other}"),
    }

    for (frame, code) in [
        (r#"{"type":"shout"}"#.to_owned(), 4400u16),
        ("not json".to_owned(), 4400),
        (
            format!(
                r#"{{"type":"ping","nonce":1,"pad":"{}"}}"#,
                "x".repeat(20_000)
            ),
            1009,
        ),
    ] {
        let mut socket = connect(&server, &bob).await;
        socket.send(Ws::Text(frame.into())).await.unwrap();
        let closed = close_code(&mut socket).await;
        assert_eq!(closed, code);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_connection_of_a_device_replaces_the_old_one() {
    let server = start(DmConfig::default()).await;
    let alice = register(&server, "alice").await;
    let mut bob = register(&server, "bob").await;
    upload_keys(&server, &mut bob, 20).await;
    let mut first = connect(&server, &bob).await;
    let mut second = connect(&server, &bob).await;
    let closed = close_code(&mut first).await;
    assert_eq!(closed, 1008);
    // The new session gets what arrives.
    let id = send(&server, &alice, &bob, "to the new one", "m").await;
    assert_eq!(
        next_frame(&mut second).await["entry"]["message_id"],
        id.as_str()
    );
}

/// Each pre-key message a device receives used one of its one-time keys: when few are left,
/// the live session says `keys_low` with the count, so the client uploads more; with plenty
/// left, nothing is said. The keys are counted at most once a second: the pre-key messages
/// here come within a second of the first count, so the warning comes from the count held
/// back until the second is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_running_low_on_one_time_keys_is_told_while_connected() {
    let server = start(DmConfig::default()).await;
    let alice = register(&server, "alice").await;
    let carol = register(&server, "carol").await;
    let mut bob = register(&server, "bob").await;
    assert_eq!(upload_keys(&server, &mut bob, 12).await, 12);
    let mut bob_ws = connect(&server, &bob).await;

    // 12 → 11 left: a pre-key message, and no warning yet.
    send(&server, &alice, &bob, "hi", "k1").await;
    let deliver = next_frame(&mut bob_ws).await;
    assert_eq!(deliver["type"], "deliver", "{deliver}");
    assert_eq!(deliver["entry"]["message_type"], "pre_key", "{deliver}");
    ack(&mut bob_ws, &deliver["entry"]["seq"]).await;
    no_frame_for(&mut bob_ws, Duration::from_millis(300)).await;

    // Two more sessions started with bob's keys: 9 left, below 10.
    send(&server, &carol, &bob, "hello", "k2").await;
    let mut seen = Vec::new();
    while !seen.iter().any(|f: &Value| f["type"] == "keys_low") {
        let frame = next_frame(&mut bob_ws).await;
        if frame["type"] == "deliver" {
            ack(&mut bob_ws, &frame["entry"]["seq"]).await;
            if seen.iter().filter(|f| f["type"] == "deliver").count() == 0 {
                send(&server, &alice, &bob, "again", "k3").await;
            }
        }
        seen.push(frame);
    }
    // Three sessions started, each with one of the 12 keys.
    let low = seen.iter().find(|f| f["type"] == "keys_low").unwrap();
    assert_eq!(low["one_time_key_count"], 9, "{low}");
}

/// Sends a `send` frame and returns the answer carrying its id.
async fn send_frame(socket: &mut Socket, id: u64, message: Value) -> Value {
    let frame = json!({"type": "send", "id": id, "message": message});
    socket
        .send(Ws::Text(frame.to_string().into()))
        .await
        .unwrap();
    loop {
        let answer = next_frame(socket).await;
        if answer["id"] == id {
            return answer;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_over_the_socket_are_answered_as_over_http() {
    // A burst of 6 sends, refilled at one per 100 s: the 7th is over the limit.
    let server = start(DmConfig {
        sends_per_second: 0.01,
        send_burst: 6.0,
        ..DmConfig::default()
    })
    .await;
    let alice = register(&server, "alice").await;
    let mut bob = register(&server, "bob").await;
    upload_keys(&server, &mut bob, 20).await;
    let mut request = server.ws.as_str().into_client_request().unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", alice.token).parse().unwrap(),
    );
    let (mut alice_ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let hello = next_frame(&mut alice_ws).await;
    assert_eq!(hello["max_frame_bytes"], 16 << 10, "{hello}");
    let mut bob_ws = connect(&server, &bob).await;

    let copy = encrypt_for(&server, &alice, &bob, "over the socket").await;
    let message = json!({"client_msg_id": "s1", "recipient": bob.user_id, "ciphertexts": [copy]});
    let sent = send_frame(&mut alice_ws, 1, message.clone()).await;
    assert_eq!(sent["type"], "sent", "{sent}");
    assert_eq!(sent["result"]["duplicate"], false);
    let message_id = sent["result"]["message_id"].as_str().unwrap().to_owned();
    let delivered = next_frame(&mut bob_ws).await;
    assert_eq!(delivered["entry"]["message_id"], message_id.as_str());

    // A retry with the same client_msg_id: the same message, nothing stored again.
    let again = send_frame(&mut alice_ws, 2, message).await;
    assert_eq!(again["type"], "sent", "{again}");
    assert_eq!(again["result"]["message_id"], message_id.as_str());
    assert_eq!(again["result"]["duplicate"], true);

    // Refusals carry what POST /v1/messages answers: status, code, details.
    let body = json!({"device": {"user_id": bob.user_id, "device_id": bob.device_id},
        "message_type": "normal", "body": "QUJD"});
    let unknown = send_frame(
        &mut alice_ws,
        3,
        json!({"client_msg_id": "s3", "recipient": "nobody", "ciphertexts": [body]}),
    )
    .await;
    assert_eq!(
        (
            &unknown["type"],
            &unknown["status"],
            &unknown["error"]["code"]
        ),
        (&json!("send_failed"), &json!(404), &json!("not_found")),
        "{unknown}"
    );
    let stray = json!({"device": {"user_id": bob.user_id, "device_id": "not-a-device"},
        "message_type": "normal", "body": "QUJD"});
    let stale = send_frame(
        &mut alice_ws,
        4,
        json!({"client_msg_id": "s4", "recipient": bob.user_id, "ciphertexts": [stray]}),
    )
    .await;
    assert_eq!(
        (&stale["status"], &stale["error"]["code"]),
        (&json!(409), &json!("stale_devices")),
        "{stale}"
    );
    assert_eq!(
        stale["error"]["details"]["current"][0]["device_id"],
        bob.device_id.as_str()
    );
    let empty = send_frame(
        &mut alice_ws,
        5,
        json!({"client_msg_id": "s5", "recipient": bob.user_id, "ciphertexts": []}),
    )
    .await;
    assert_eq!(
        (&empty["status"], &empty["error"]["code"]),
        (&json!(400), &json!("invalid")),
        "{empty}"
    );
    let crowd: Vec<Value> = (0..65).map(|_| body.clone()).collect();
    let too_many = send_frame(
        &mut alice_ws,
        6,
        json!({"client_msg_id": "s6", "recipient": bob.user_id, "ciphertexts": crowd}),
    )
    .await;
    assert_eq!(
        (&too_many["status"], &too_many["error"]["code"]),
        (&json!(413), &json!("too_large")),
        "{too_many}"
    );

    // Past the device's rate limit: 429 with the wait, as Retry-After says over HTTP.
    let limited = send_frame(
        &mut alice_ws,
        7,
        json!({"client_msg_id": "s7", "recipient": bob.user_id, "ciphertexts": [body]}),
    )
    .await;
    assert_eq!(
        (&limited["status"], &limited["error"]["code"]),
        (&json!(429), &json!("rate_limited")),
        "{limited}"
    );
    assert!(limited["retry_after_s"].as_u64().unwrap() >= 1, "{limited}");

    // Only the accepted send reached Bob's mailbox, once.
    let entries = support::mailbox(&server, &bob).await;
    assert_eq!(entries.len(), 1, "{entries:?}");

    // A send frame that is not a send request closes the session like any unknown frame.
    alice_ws
        .send(Ws::Text(
            r#"{"type":"send","id":8,"message":{"recipient":"x"}}"#.into(),
        ))
        .await
        .unwrap();
    let closed = close_code(&mut alice_ws).await;
    assert_eq!(closed, 4400);
}

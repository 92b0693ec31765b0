//! The DM API over real HTTP on loopback, with a real SQLite file and real Olm encryption by
//! the test's clients (pigeon-crypto), so what the server stores is what a client would send.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use pigeon_crypto::{Ciphertext, MessageType};
use pigeon_dm::DmConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{JsonBody as _, add_device, encrypt_for, mailbox, register, start, upload_keys};

const SECRET: &str = "meet me at the old pier at nine";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_exchange_an_encrypted_message_with_receipts() {
    let server = start(DmConfig::default()).await;
    let mut alice = register(&server, "alice").await;
    let mut alice_laptop = add_device(&server, &alice).await;
    let mut bob = register(&server, "bob").await;
    for c in [&mut alice, &mut alice_laptop, &mut bob] {
        assert_eq!(upload_keys(&server, c, 5).await, 5);
    }

    // Alice finds Bob and his devices.
    let (status, found) = server
        .call("GET", "/v1/users?username=bob", Some(&alice.token), None)
        .await;
    assert_eq!(
        (status, found["user_id"].as_str()),
        (StatusCode::OK, Some(bob.user_id.as_str()))
    );
    let (_, devices) = server
        .call(
            "GET",
            &format!("/v1/users/{}/devices", bob.user_id),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(devices["devices"][0]["device_id"], bob.device_id);
    assert_eq!(
        devices["devices"][0]["keys"]["curve25519"],
        bob.olm.keys().curve25519
    );

    // One ciphertext for Bob's device, one for Alice's other device.
    let send = json!({
        "client_msg_id": "c-1",
        "recipient": bob.user_id,
        "ciphertexts": [
            encrypt_for(&server, &alice, &bob, SECRET).await,
            encrypt_for(&server, &alice, &alice_laptop, SECRET).await,
        ],
    });
    let (status, sent) = server
        .call(
            "POST",
            "/v1/messages",
            Some(&alice.token),
            Some(send.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let message_id = sent["message_id"].as_str().unwrap().to_owned();
    let (status, again) = server
        .call("POST", "/v1/messages", Some(&alice.token), Some(send))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (again["message_id"].as_str(), again["duplicate"].as_bool()),
        (Some(message_id.as_str()), Some(true))
    );

    // Bob gets it once, decrypts it, acks it.
    let entries = mailbox(&server, &bob).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(entry["kind"], "message");
    assert_eq!(entry["message_id"], message_id.as_str());
    assert_eq!(entry["sender"]["device_id"], alice.device_id);
    let ciphertext = Ciphertext {
        message_type: MessageType::PreKey,
        body: entry["body"].as_str().unwrap().into(),
    };
    let (_, plaintext) = bob
        .olm
        .inbound(&alice.olm.identity_key(), &ciphertext)
        .unwrap();
    assert_eq!(plaintext, SECRET.as_bytes());
    let seq = entry["seq"].as_u64().unwrap();
    // One seq never assigned refuses the whole ack: the good one is not acked either.
    let (status, body) = server
        .call(
            "POST",
            "/v1/mailbox/ack",
            Some(&bob.token),
            Some(json!({"seqs": [seq, seq + 1]})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid"))
    );
    assert_eq!(mailbox(&server, &bob).await.len(), 1, "nothing acked");
    let (status, acked) = server
        .call(
            "POST",
            "/v1/mailbox/ack",
            Some(&bob.token),
            Some(json!({"seqs": [seq]})),
        )
        .await;
    assert_eq!(
        (status, acked["acked"].clone()),
        (StatusCode::OK, json!([seq]))
    );
    assert!(
        mailbox(&server, &bob).await.is_empty(),
        "an acked entry never comes back"
    );
    let (_, again) = server
        .call(
            "POST",
            "/v1/mailbox/ack",
            Some(&bob.token),
            Some(json!({"seqs": [seq]})),
        )
        .await;
    assert_eq!(again["acked"], json!([]), "acks are idempotent");

    // Both of Alice's devices get the delivery receipt; the laptop also has its own copy.
    let phone = mailbox(&server, &alice).await;
    assert!(
        phone.iter().any(|e| e["kind"] == "delivery_receipt"
            && e["message_id"] == message_id.as_str()
            && e["by"]["device_id"] == bob.device_id.as_str()),
        "{phone:?}"
    );
    let laptop = mailbox(&server, &alice_laptop).await;
    assert!(
        laptop
            .iter()
            .any(|e| e["kind"] == "message" && e["message_id"] == message_id.as_str())
    );
    assert!(laptop.iter().any(|e| e["kind"] == "delivery_receipt"));

    // Bob reads; the receipt reaches Alice; it never moves backwards.
    let read = json!({"peer": alice.user_id, "up_to": message_id});
    let (status, answer) = server
        .call(
            "POST",
            "/v1/receipts/read",
            Some(&bob.token),
            Some(read.clone()),
        )
        .await;
    assert_eq!(
        (status, answer["advanced"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    let (_, answer) = server
        .call("POST", "/v1/receipts/read", Some(&bob.token), Some(read))
        .await;
    assert_eq!(answer["advanced"].as_bool(), Some(false));
    let phone = mailbox(&server, &alice).await;
    assert!(phone.iter().any(|e| e["kind"] == "read_receipt"
        && e["up_to"] == message_id.as_str()
        && e["reader"] == bob.user_id.as_str()));

    // One-time keys were used up one per claim.
    let (_, count) = server
        .call("PUT", "/v1/keys", Some(&bob.token), Some(json!({})))
        .await;
    assert_eq!(count["one_time_key_count"], 4);

    // The plaintext is nowhere in the server's files.
    for file in std::fs::read_dir(server.dir.path()).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        assert!(!bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_act_only_as_themselves() {
    let server = start(DmConfig::default()).await;
    let alice = register(&server, "alice").await;
    let mut bob = register(&server, "bob").await;
    let carol = register(&server, "carol").await;
    upload_keys(&server, &mut bob, 2).await;

    for token in [None, Some("nonsense"), Some(&*"0".repeat(64))] {
        let (status, body) = server.call("GET", "/v1/mailbox", token, None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized"))
        );
    }
    // Alice cannot remove Bob's device.
    let (status, _) = server
        .call(
            "DELETE",
            &format!("/v1/devices/{}", bob.device_id),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Alice → Bob; Carol cannot mark it read (it was not sent to her) nor ack it.
    let send = json!({"client_msg_id": "c", "recipient": bob.user_id, "ciphertexts": [encrypt_for(&server, &alice, &bob, "hi").await]});
    let (_, sent) = server
        .call("POST", "/v1/messages", Some(&alice.token), Some(send))
        .await;
    let (status, body) = server
        .call(
            "POST",
            "/v1/receipts/read",
            Some(&carol.token),
            Some(json!({"peer": alice.user_id, "up_to": sent["message_id"]})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    assert!(
        mailbox(&server, &carol).await.is_empty(),
        "a device reads only its own mailbox"
    );
    let (status, body) = server
        .call(
            "POST",
            "/v1/mailbox/ack",
            Some(&carol.token),
            Some(json!({"seqs": [1]})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid"))
    );
    assert_eq!(
        mailbox(&server, &bob).await.len(),
        1,
        "Bob's message untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_precise_errors_and_stores_nothing() {
    let server = start(DmConfig::default()).await;
    let alice = register(&server, "alice").await;
    let mut bob = register(&server, "bob").await;
    let bob_tablet = add_device(&server, &bob).await;
    upload_keys(&server, &mut bob, 3).await;
    let target = json!({"user_id": bob.user_id, "device_id": bob.device_id});
    let message = |body: &str| json!({"client_msg_id": "x", "recipient": bob.user_id, "ciphertexts": [{"device": target, "message_type": "normal", "body": body}]});

    let cases: Vec<(&str, Value, StatusCode, &str)> = vec![
        (
            "bad base64",
            message("not base64!"),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "oversized",
            message(&"A".repeat(64 * 1024 + 4)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            "unknown recipient",
            json!({"client_msg_id": "x", "recipient": "nobody", "ciphertexts": [{"device": target, "message_type": "normal", "body": "AAAA"}]}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "unknown field",
            json!({"client_msg_id": "x", "recipient": bob.user_id, "ciphertexts": [], "plaintext": "hi"}),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            "bad id",
            json!({"client_msg_id": "a b", "recipient": bob.user_id, "ciphertexts": []}),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
    ];
    for (what, body, status, code) in cases {
        let (got, answer) = server
            .call("POST", "/v1/messages", Some(&alice.token), Some(body))
            .await;
        assert_eq!(
            (got, answer["code"].as_str()),
            (status, Some(code)),
            "{what}: {answer}"
        );
    }
    let (status, answer) = server
        .raw(
            "/v1/messages",
            &alice.token,
            "application/json",
            "{not json",
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed"))
    );
    let (status, _) = server
        .raw("/v1/messages", &alice.token, "text/plain", "{}")
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Only one of Bob's two devices: 409 with the current devices, nothing stored.
    let (status, answer) = server
        .call(
            "POST",
            "/v1/messages",
            Some(&alice.token),
            Some(message("AAAA")),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::CONFLICT, Some("stale_devices")),
        "{answer}"
    );
    let current: Vec<&str> = answer["details"]["current"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device_id"].as_str().unwrap())
        .collect();
    assert!(
        current.contains(&bob.device_id.as_str())
            && current.contains(&bob_tablet.device_id.as_str()),
        "{answer}"
    );
    assert!(mailbox(&server, &bob).await.is_empty());
    assert!(mailbox(&server, &bob_tablet).await.is_empty());

    // Keys: one-time keys marked as fallback, and bad base64, are refused.
    let bad_keys = json!({"one_time_keys": [{"key_id": "k", "public_key": "AAAA", "fallback": true, "signature": "AAAA"}]});
    let (status, answer) = server
        .call("PUT", "/v1/keys", Some(&bob.token), Some(bad_keys))
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid"))
    );
    let (status, _) = server
        .call("GET", "/v1/no-such-thing", Some(&bob.token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_are_rate_limited_per_device_with_retry_after() {
    let server = start(DmConfig {
        sends_per_second: 0.01,
        send_burst: 2.0,
        ..DmConfig::default()
    })
    .await;
    let alice = register(&server, "alice").await;
    let bob = register(&server, "bob").await;
    let send = |n: u32| {
        json!({"client_msg_id": format!("m{n}"), "recipient": bob.user_id, "ciphertexts": [
            {"device": {"user_id": bob.user_id, "device_id": bob.device_id}, "message_type": "normal", "body": "AAAA"}]})
    };
    for n in 0..2 {
        let (status, _) = server
            .call("POST", "/v1/messages", Some(&alice.token), Some(send(n)))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let response = server
        .http
        .post(format!("{}/v1/messages", server.base))
        .header("authorization", format!("Bearer {}", alice.token))
        .json_body(&send(2))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_eq!(
        mailbox(&server, &bob).await.len(),
        2,
        "the limited send stored nothing"
    );
    // Another device is not affected.
    let (status, _) = server
        .call("POST", "/v1/messages", Some(&bob.token), Some(json!({"client_msg_id": "b", "recipient": alice.user_id, "ciphertexts": [
            {"device": {"user_id": alice.user_id, "device_id": alice.device_id}, "message_type": "normal", "body": "AAAA"}]})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_device_is_refused_at_once() {
    let server = start(DmConfig::default()).await;
    let alice = register(&server, "alice").await;
    let laptop = add_device(&server, &alice).await;
    let (status, _) = server
        .call("GET", "/v1/mailbox", Some(&laptop.token), None)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the token works (and is now remembered)"
    );
    let (status, _) = server
        .call(
            "DELETE",
            &format!("/v1/devices/{}", laptop.device_id),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = server
        .call("GET", "/v1/mailbox", Some(&laptop.token), None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
}

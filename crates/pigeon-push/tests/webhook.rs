//! Webhooks against a real local endpoint: the JSON notice, signed with HMAC-SHA256.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use hmac::{Hmac, KeyInit as _, Mac as _};
use pigeon_push::{PushNotice, PushOutcome, PushSubscription, Pusher, SIGNATURE_HEADER, VapidKeys};
use sha2::Sha256;
use support::{Endpoint, Reply, fast_config};

fn pusher() -> Pusher {
    Pusher::new(fast_config(), VapidKeys::generate().unwrap()).unwrap()
}

#[tokio::test]
async fn signed_webhook_carries_json_and_valid_signature() {
    let endpoint = Endpoint::start(vec![Reply::status(204)]).await;
    let secret = "whsec_test_0123456789";
    let sub =
        PushSubscription::webhook(endpoint.url("/hooks/pigeon"), Some(secret.into())).unwrap();
    let notice = PushNotice::message("msg-9", "user-3");
    let outcome = pusher().send(&sub, &notice).await.unwrap();
    assert!(matches!(
        outcome,
        PushOutcome::Delivered {
            provider: "webhook",
            status: 204,
            attempts: 1,
            ..
        }
    ));
    assert_eq!(outcome.provider(), "webhook");

    let request = endpoint.requests().remove(0);
    assert_eq!(request.path, "/hooks/pigeon");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"type": "message", "message_id": "msg-9", "sender": "user-3"})
    );

    // What a receiver does: recompute over the raw body and compare in constant time.
    let header = request.header(SIGNATURE_HEADER).unwrap();
    let hex = header.strip_prefix("sha256=").unwrap();
    let claimed: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&request.body);
    mac.verify_slice(&claimed).unwrap();
}

#[tokio::test]
async fn unsigned_webhook_has_no_signature_header() {
    let endpoint = Endpoint::start(vec![]).await;
    let sub = PushSubscription::webhook(endpoint.url("/h"), None).unwrap();
    pusher()
        .send(&sub, &PushNotice::message("m", "u"))
        .await
        .unwrap();
    assert!(endpoint.requests()[0].header(SIGNATURE_HEADER).is_none());
}

#[tokio::test]
async fn webhook_gone_and_retry() {
    let endpoint = Endpoint::start(vec![Reply::status(410)]).await;
    let sub = PushSubscription::webhook(endpoint.url("/h"), None).unwrap();
    let outcome = pusher()
        .send(&sub, &PushNotice::message("m", "u"))
        .await
        .unwrap();
    assert!(matches!(
        outcome,
        PushOutcome::Gone {
            provider: "webhook",
            ..
        }
    ));

    let endpoint = Endpoint::start(vec![Reply::status(502), Reply::status(200)]).await;
    let sub = PushSubscription::webhook(endpoint.url("/h"), None).unwrap();
    let outcome = pusher()
        .send(&sub, &PushNotice::message("m", "u"))
        .await
        .unwrap();
    assert_eq!(outcome.attempts(), 2);
}

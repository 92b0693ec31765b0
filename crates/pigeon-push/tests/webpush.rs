//! Web Push against a real local endpoint, checked by third-party code: the body decrypts with
//! Python's `http_ece` (RFC 8291), and the VAPID JWT verifies with Python's `cryptography`
//! and with the `p256` crate (RFC 8292).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use pigeon_push::{
    PushConfig, PushNotice, PushOutcome, PushSubscription, Pusher, Urgency, VapidKeys,
};
use support::{Endpoint, Recorded, Subscriber, python_with, run_python};

const SUBJECT: &str = "mailto:ops@pigeon.test";

/// Sends one notice to a fresh subscriber at a recording endpoint.
async fn push_once(
    config: PushConfig,
    notice: &PushNotice,
) -> (Subscriber, VapidKeys, Endpoint, Recorded) {
    let endpoint = Endpoint::start(vec![]).await;
    let subscriber = Subscriber::new();
    let vapid = VapidKeys::generate().unwrap();
    let pusher = Pusher::new(config.with_vapid_subject(SUBJECT), vapid.clone()).unwrap();
    let sub = PushSubscription::web_push(
        endpoint.url("/wpush/v2/opaque-token"),
        subscriber.p256dh(),
        subscriber.auth(),
    )
    .unwrap();
    let outcome = pusher.send(&sub, notice).await.unwrap();
    assert!(matches!(
        outcome,
        PushOutcome::Delivered {
            status: 201,
            attempts: 1,
            ..
        }
    ));
    assert_eq!(outcome.provider(), "webpush");
    assert!(outcome.success());
    let mut requests = endpoint.requests();
    assert_eq!(requests.len(), 1);
    let request = requests.remove(0);
    (subscriber, vapid, endpoint, request)
}

#[tokio::test]
async fn body_decrypts_with_http_ece() {
    if !python_with(&["http_ece", "cryptography"]) {
        return;
    }
    let notice = PushNotice::message("01JD0M5G8Q2W", "@alice:pigeon.test");
    let (subscriber, _, _endpoint, request) = push_once(PushConfig::default(), &notice).await;
    assert_eq!(request.header("content-encoding"), Some("aes128gcm"));

    let dir = tempfile::tempdir().unwrap();
    let body_file = dir.path().join("body.bin");
    std::fs::write(&body_file, &request.body).unwrap();
    let plaintext = run_python(
        "decrypt_webpush.py",
        &[
            body_file.to_str().unwrap(),
            &subscriber.private_key(),
            &subscriber.auth(),
        ],
    );
    let json: serde_json::Value = serde_json::from_slice(&plaintext).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"type": "message", "message_id": "01JD0M5G8Q2W", "sender": "@alice:pigeon.test"})
    );
    assert_eq!(json, serde_json::to_value(&notice).unwrap());
}

#[tokio::test]
async fn vapid_jwt_verifies_in_python() {
    if !python_with(&["cryptography"]) {
        return;
    }
    let (_, vapid, endpoint, request) =
        push_once(PushConfig::default(), &PushNotice::message("m", "u")).await;
    let claims = run_python(
        "verify_vapid.py",
        &[
            request.header("authorization").unwrap(),
            vapid.public_key_base64url(),
            &endpoint.origin,
            SUBJECT,
        ],
    );
    let claims: serde_json::Value = serde_json::from_slice(&claims).unwrap();
    // `aud` keeps the non-default port.
    assert!(claims["aud"].as_str().unwrap().contains(':'), "{claims}");
}

#[tokio::test]
async fn vapid_jwt_verifies_with_p256() {
    let (_, vapid, endpoint, request) =
        push_once(PushConfig::default(), &PushNotice::message("m", "u")).await;
    let authorization = request.header("authorization").unwrap();
    let (token, k) = authorization
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split_once(", k="))
        .unwrap();
    assert_eq!(k, vapid.public_key_base64url());
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
    let key = VerifyingKey::from_sec1_bytes(&URL_SAFE_NO_PAD.decode(k).unwrap()).unwrap();
    key.verify(signing_input.as_bytes(), &signature).unwrap();

    let (header, claims) = signing_input.split_once('.').unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    assert_eq!(claims["aud"], endpoint.origin.as_str());
    assert_eq!(claims["sub"], SUBJECT);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let exp = claims["exp"].as_u64().unwrap();
    assert!(exp > now && exp <= now + 24 * 3600, "exp {exp}, now {now}");
}

#[tokio::test]
async fn headers_follow_config_and_notice() {
    let config = PushConfig::default()
        .with_ttl(Duration::from_secs(3600))
        .with_urgency(Urgency::Normal);
    let notice = PushNotice::message("m", "u").with_topic("conv-42").unwrap();
    let (_, _, _endpoint, request) = push_once(config, &notice).await;
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/wpush/v2/opaque-token");
    assert_eq!(request.header("ttl"), Some("3600"));
    assert_eq!(request.header("urgency"), Some("normal"));
    assert_eq!(request.header("topic"), Some("conv-42"));
    assert_eq!(
        request.header("content-type"),
        Some("application/octet-stream")
    );
    let length: usize = request.header("content-length").unwrap().parse().unwrap();
    assert_eq!(length, request.body.len());
    // 86-byte header, then the record: no plaintext bytes in the clear.
    assert!(!request.body.windows(7).any(|w| w == b"message"));
}

#[tokio::test]
async fn default_headers() {
    let (_, _, _endpoint, request) =
        push_once(PushConfig::default(), &PushNotice::message("m", "u")).await;
    assert_eq!(request.header("ttl"), Some("86400"));
    assert_eq!(request.header("urgency"), Some("high"));
    assert_eq!(request.header("topic"), None);
}

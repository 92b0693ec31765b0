//! Invalid subscriptions are refused with typed errors, at construction, at deserialization,
//! and (for hand-built ones) at send.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pigeon_push::{PushError, PushNotice, PushSubscription, Pusher, SubscriptionError, VapidKeys};
use support::Subscriber;

#[test]
fn web_push_fields_are_checked() {
    let s = Subscriber::new();
    let (p256dh, auth) = (s.p256dh(), s.auth());
    let web_push = |endpoint: &str, p256dh: &str, auth: &str| {
        PushSubscription::web_push(endpoint, p256dh, auth).unwrap_err()
    };
    assert_eq!(
        web_push("not a url", &p256dh, &auth),
        SubscriptionError::InvalidUrl
    );
    assert_eq!(
        web_push("/relative/path", &p256dh, &auth),
        SubscriptionError::InvalidUrl
    );
    assert_eq!(
        web_push("ftp://push.example/x", &p256dh, &auth),
        SubscriptionError::UnsupportedScheme {
            scheme: "ftp".into()
        }
    );
    assert_eq!(
        web_push("https://push.example/x", "not*base64", &auth),
        SubscriptionError::P256dhEncoding
    );
    let short = URL_SAFE_NO_PAD.encode([4u8; 33]);
    assert_eq!(
        web_push("https://push.example/x", &short, &auth),
        SubscriptionError::P256dhLength { len: 33 }
    );
    let off_curve = URL_SAFE_NO_PAD.encode([4u8; 65]);
    assert_eq!(
        web_push("https://push.example/x", &off_curve, &auth),
        SubscriptionError::P256dhPoint
    );
    assert_eq!(
        web_push("https://push.example/x", &p256dh, "%%%"),
        SubscriptionError::AuthEncoding
    );
    let long_auth = URL_SAFE_NO_PAD.encode([1u8; 32]);
    assert_eq!(
        web_push("https://push.example/x", &p256dh, &long_auth),
        SubscriptionError::AuthLength { len: 32 }
    );
    assert!(PushSubscription::web_push("https://push.example/x", &p256dh, &auth).is_ok());
}

#[test]
fn webhook_fields_are_checked() {
    assert_eq!(
        PushSubscription::webhook("wss://h.example/socket", None).unwrap_err(),
        SubscriptionError::UnsupportedScheme {
            scheme: "wss".into()
        }
    );
    assert_eq!(
        PushSubscription::webhook("https://h.example/", Some(String::new())).unwrap_err(),
        SubscriptionError::EmptySecret
    );
    assert_eq!(
        PushSubscription::webhook("mailto:x@y", None).unwrap_err(),
        SubscriptionError::InvalidUrl
    );
}

#[test]
fn deserialization_validates() {
    let json =
        r#"{"kind":"web_push","endpoint":"https://p.example/x","p256dh":"AAAA","auth":"AAAA"}"#;
    let error = serde_json::from_str::<PushSubscription>(json).unwrap_err();
    assert!(error.to_string().contains("p256dh"), "{error}");
    let json = r#"{"kind":"webhook","url":"https://h.example/","extra":1}"#;
    assert!(serde_json::from_str::<PushSubscription>(json).is_err());
}

#[tokio::test]
async fn hand_built_invalid_subscription_is_refused_at_send() {
    let pusher = Pusher::new(Default::default(), VapidKeys::generate().unwrap()).unwrap();
    let sub = PushSubscription::WebPush {
        endpoint: "https://push.example/x".into(),
        p256dh: "AAAA".into(),
        auth: "AAAA".into(),
    };
    let error = pusher
        .send(&sub, &PushNotice::message("m", "u"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            PushError::InvalidSubscription(SubscriptionError::P256dhLength { len: 3 })
        ),
        "{error:?}"
    );
    assert_eq!(error.attempts(), 0);
}

#[tokio::test]
async fn oversized_notice_is_refused() {
    let s = Subscriber::new();
    let sub = PushSubscription::web_push("https://push.example/x", s.p256dh(), s.auth()).unwrap();
    let pusher = Pusher::new(Default::default(), VapidKeys::generate().unwrap()).unwrap();
    let notice = PushNotice::message("m".repeat(pigeon_push::MAX_NOTICE_BYTES), "u");
    let error = pusher.send(&sub, &notice).await.unwrap_err();
    assert!(
        matches!(error, PushError::PayloadTooLarge { max: 4096, .. }),
        "{error:?}"
    );
}

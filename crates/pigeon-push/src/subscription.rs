//! Where a device wants its pushes: a browser's Web Push subscription or a webhook.
//!
//! Fields stay in the form clients hand them over (base64url strings, URL strings) so they
//! store and round-trip through serde as-is; every way in (the constructors and
//! deserialization) validates them, so a stored subscription that loads is one we can send to.
//! The variants' fields are public, though, so [`Pusher::send`](crate::Pusher::send) decodes
//! them again and reports a hand-built bad one as
//! [`PushError::InvalidSubscription`](crate::PushError::InvalidSubscription).
//!
//! `Debug` shows only the origin of URLs (a push endpoint's path is a bearer capability) and
//! never the `auth` secret or the webhook secret.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Uri;
use serde::{Deserialize, Serialize};

use crate::error::SubscriptionError;

/// A device's push target.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", try_from = "RawSubscription")]
pub enum PushSubscription {
    /// A Web Push subscription, as `PushSubscription.toJSON()` gives it in a browser.
    WebPush {
        /// The push service URL to POST to (http or https).
        endpoint: String,
        /// The subscriber's P-256 public key: base64url of the 65-byte uncompressed point.
        p256dh: String,
        /// The subscriber's authentication secret: base64url of 16 bytes.
        auth: String,
    },
    /// A webhook the device's owner runs.
    Webhook {
        /// The URL to POST the JSON notice to (http or https).
        url: String,
        /// When set, bodies are signed: `Pigeon-Signature: sha256=<hex HMAC-SHA256(secret, body)>`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
    },
}

impl PushSubscription {
    /// A validated Web Push subscription. Keys may be padded or unpadded base64url.
    pub fn web_push(
        endpoint: impl Into<String>,
        p256dh: impl Into<String>,
        auth: impl Into<String>,
    ) -> Result<Self, SubscriptionError> {
        let subscription = Self::WebPush {
            endpoint: endpoint.into(),
            p256dh: p256dh.into(),
            auth: auth.into(),
        };
        subscription.validate()?;
        Ok(subscription)
    }

    /// A validated webhook subscription; `secret`, when given, must not be empty.
    pub fn webhook(
        url: impl Into<String>,
        secret: Option<String>,
    ) -> Result<Self, SubscriptionError> {
        let subscription = Self::Webhook {
            url: url.into(),
            secret,
        };
        subscription.validate()?;
        Ok(subscription)
    }

    /// Checks every field; the constructors and deserialization call this.
    pub fn validate(&self) -> Result<(), SubscriptionError> {
        match self {
            Self::WebPush {
                endpoint,
                p256dh,
                auth,
            } => {
                parse_url(endpoint)?;
                decode_p256dh(p256dh)?;
                decode_auth(auth)?;
            }
            Self::Webhook { url, secret } => {
                parse_url(url)?;
                if secret.as_deref().is_some_and(str::is_empty) {
                    return Err(SubscriptionError::EmptySecret);
                }
            }
        }
        Ok(())
    }

    /// `"webpush"` or `"webhook"`: the value of the `push.provider` span attribute.
    pub fn provider(&self) -> &'static str {
        match self {
            Self::WebPush { .. } => WEBPUSH,
            Self::Webhook { .. } => WEBHOOK,
        }
    }
}

pub(crate) const WEBPUSH: &str = "webpush";
pub(crate) const WEBHOOK: &str = "webhook";

impl fmt::Debug for PushSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WebPush {
                endpoint,
                p256dh,
                auth: _,
            } => f
                .debug_struct("WebPush")
                .field("endpoint", &redacted_url(endpoint))
                .field("p256dh", p256dh)
                .field("auth", &"<redacted>")
                .finish(),
            Self::Webhook { url, secret } => f
                .debug_struct("Webhook")
                .field("url", &redacted_url(url))
                .field("secret", &secret.as_ref().map(|_| "<redacted>"))
                .finish(),
        }
    }
}

fn redacted_url(url: &str) -> String {
    match parse_url(url) {
        Ok(uri) => format!("{}/…", origin(&uri)),
        Err(_) => "<invalid url>".to_owned(),
    }
}

/// The serde shape, before validation.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum RawSubscription {
    WebPush {
        endpoint: String,
        p256dh: String,
        auth: String,
    },
    Webhook {
        url: String,
        #[serde(default)]
        secret: Option<String>,
    },
}

impl TryFrom<RawSubscription> for PushSubscription {
    type Error = SubscriptionError;

    fn try_from(raw: RawSubscription) -> Result<Self, Self::Error> {
        match raw {
            RawSubscription::WebPush {
                endpoint,
                p256dh,
                auth,
            } => Self::web_push(endpoint, p256dh, auth),
            RawSubscription::Webhook { url, secret } => Self::webhook(url, secret),
        }
    }
}

/// Parses an absolute http(s) URL with a host.
pub(crate) fn parse_url(url: &str) -> Result<Uri, SubscriptionError> {
    let uri: Uri = url.parse().map_err(|_| SubscriptionError::InvalidUrl)?;
    let scheme = uri.scheme_str().ok_or(SubscriptionError::InvalidUrl)?;
    if scheme != "http" && scheme != "https" {
        return Err(SubscriptionError::UnsupportedScheme {
            scheme: scheme.to_owned(),
        });
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(SubscriptionError::MissingHost);
    }
    Ok(uri)
}

/// The ASCII serialization of the URL's origin: scheme, host, and the port unless it is the
/// scheme's default. This is the VAPID `aud` (RFC 8292 §2).
pub(crate) fn origin(uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("https");
    let host = uri.host().unwrap_or_default();
    let default_port = if scheme == "http" { 80 } else { 443 };
    match uri.port_u16() {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    }
}

fn decode_base64url(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

/// Decodes and checks the subscriber's public key.
pub(crate) fn decode_p256dh(p256dh: &str) -> Result<p256::PublicKey, SubscriptionError> {
    let bytes = decode_base64url(p256dh).ok_or(SubscriptionError::P256dhEncoding)?;
    if bytes.len() != 65 {
        return Err(SubscriptionError::P256dhLength { len: bytes.len() });
    }
    p256::PublicKey::from_sec1_bytes(&bytes).map_err(|_| SubscriptionError::P256dhPoint)
}

/// Decodes and checks the subscriber's auth secret.
pub(crate) fn decode_auth(auth: &str) -> Result<[u8; 16], SubscriptionError> {
    let bytes = decode_base64url(auth).ok_or(SubscriptionError::AuthEncoding)?;
    <[u8; 16]>::try_from(bytes.as_slice())
        .map_err(|_| SubscriptionError::AuthLength { len: bytes.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    // A subscription from the web-push-native documentation.
    const P256DH: &str =
        "BLn9b-VR0ca83knDNZ32dCHGyjJp-1riX9ZTN40MqV8K_LpQmLqxC_DoHvqvFXO_nGdAB4W9dogZb_sM-uV4JbY";
    const AUTH: &str = "_ordMnz7uTCmrpBTeUV4Bw";

    #[test]
    fn origin_drops_default_ports_only() {
        let origin_of = |s: &str| origin(&parse_url(s).unwrap());
        assert_eq!(
            origin_of("https://push.example.com/a/b?c"),
            "https://push.example.com"
        );
        assert_eq!(
            origin_of("https://push.example.com:443/a"),
            "https://push.example.com"
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080/x"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            origin_of("https://u:p@h.example:8443/"),
            "https://h.example:8443"
        );
    }

    #[test]
    fn debug_hides_secrets_and_paths() {
        let sub =
            PushSubscription::web_push("https://push.example.com/token123", P256DH, AUTH).unwrap();
        let text = format!("{sub:?}");
        assert!(!text.contains(AUTH) && !text.contains("token123"), "{text}");
        let hook = PushSubscription::webhook("https://h.example/k/s3cr3t", Some("hunter2".into()))
            .unwrap();
        let text = format!("{hook:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("s3cr3t"),
            "{text}"
        );
    }

    #[test]
    fn padded_keys_are_accepted() {
        assert!(
            PushSubscription::web_push("https://p.example/", P256DH, "_ordMnz7uTCmrpBTeUV4Bw==")
                .is_ok()
        );
    }

    #[test]
    fn serde_round_trip_and_validation() {
        let sub = PushSubscription::web_push("https://p.example/x", P256DH, AUTH).unwrap();
        let json = serde_json::to_string(&sub).unwrap();
        assert!(json.contains(r#""kind":"web_push""#), "{json}");
        assert_eq!(
            serde_json::from_str::<PushSubscription>(&json).unwrap(),
            sub
        );

        let hook = PushSubscription::webhook("http://h.example/", None).unwrap();
        let json = serde_json::to_string(&hook).unwrap();
        assert_eq!(json, r#"{"kind":"webhook","url":"http://h.example/"}"#);
        assert_eq!(
            serde_json::from_str::<PushSubscription>(&json).unwrap(),
            hook
        );

        let bad = r#"{"kind":"web_push","endpoint":"ftp://x/","p256dh":"","auth":""}"#;
        let err = serde_json::from_str::<PushSubscription>(bad).unwrap_err();
        assert!(err.to_string().contains("scheme"), "{err}");
    }
}

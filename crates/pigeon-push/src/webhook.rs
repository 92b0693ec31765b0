//! Builds a webhook request: the JSON notice, signed when the subscription has a secret.
//!
//! The signature lets the receiver check that the body came from this server and was not
//! altered: `Pigeon-Signature: sha256=<lowercase hex of HMAC-SHA256(secret, body)>`, computed
//! over the exact body bytes (as GitHub's `X-Hub-Signature-256`). Receivers should compare in
//! constant time. There is no timestamp in the signature, so it does not stop replays; a
//! replayed notice only says again that a message is waiting.

use bytes::Bytes;
use hmac::{Hmac, KeyInit as _, Mac as _};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue};
use sha2::Sha256;

use crate::error::{PushError, SubscriptionError};
use crate::notice::PushNotice;
use crate::pusher::Prepared;
use crate::subscription::{WEBHOOK, origin, parse_url};

/// Name of the signature header.
pub const SIGNATURE_HEADER: &str = "pigeon-signature";

pub(crate) fn prepare(
    url: &str,
    secret: Option<&str>,
    notice: &PushNotice,
) -> Result<Prepared, PushError> {
    let uri = parse_url(url)?;
    let body = notice.to_json();
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(secret) = secret {
        if secret.is_empty() {
            return Err(SubscriptionError::EmptySecret.into());
        }
        let mac = sign(secret.as_bytes(), &body)
            .ok_or_else(|| PushError::Build("HMAC refused the key".to_owned()))?;
        let signature = format!("sha256={}", hex(&mac));
        if let Ok(value) = HeaderValue::from_str(&signature) {
            headers.insert(SIGNATURE_HEADER, value);
        }
    }
    Ok(Prepared {
        provider: WEBHOOK,
        origin: origin(&uri),
        uri,
        headers,
        body: Bytes::from(body),
    })
}

/// HMAC-SHA256 of `body` under `key`. HMAC takes keys of any length, so this is never `None`
/// in practice; the `Option` only spares a panic path.
pub(crate) fn sign(key: &[u8], body: &[u8]) -> Option<[u8; 32]> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(body);
    Some(mac.finalize().into_bytes().into())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_test_case_2() {
        let mac = sign(b"Jefe", b"what do ya want for nothing?").unwrap();
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn unsigned_without_secret() {
        let prepared = prepare("http://h.example/", None, &PushNotice::message("m", "u")).unwrap();
        assert!(prepared.headers.get(SIGNATURE_HEADER).is_none());
    }
}

//! Builds a Web Push request: RFC 8030 headers, an RFC 8291 `aes128gcm` body, RFC 8292 VAPID.
//!
//! Encryption is `web_push_native::encrypt` (ECDH with a fresh ephemeral key per push, HKDF,
//! AES-128-GCM, all RustCrypto). The request itself is built here, not by
//! `WebPushBuilder`, so that `TTL` and the VAPID `exp` can be set apart, `Urgency` and `Topic`
//! can be added, and `aud` keeps a non-default port.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue};
use web_push_native::Auth;

use crate::config::PushConfig;
use crate::error::PushError;
use crate::notice::PushNotice;
use crate::pusher::Prepared;
use crate::subscription::{WEBPUSH, decode_auth, decode_p256dh, origin, parse_url};
use crate::vapid::VapidKeys;

/// The body size every push service must accept (RFC 8030 §7.2).
const MAX_BODY: usize = 4096;

pub(crate) struct Target<'a> {
    pub(crate) endpoint: &'a str,
    pub(crate) p256dh: &'a str,
    pub(crate) auth: &'a str,
}

pub(crate) fn prepare(
    target: &Target<'_>,
    notice: &PushNotice,
    vapid: &VapidKeys,
    config: &PushConfig,
    now: SystemTime,
) -> Result<Prepared, PushError> {
    let uri = parse_url(target.endpoint)?;
    let ua_public = decode_p256dh(target.p256dh)?;
    let auth = decode_auth(target.auth)?;
    let auth = Auth::from_exact_iter(auth)
        .ok_or_else(|| PushError::Build("auth secret is not 16 bytes".to_owned()))?;

    let body = web_push_native::encrypt(notice.to_json(), &ua_public, &auth)
        .map_err(|e| PushError::Build(e.to_string()))?;
    if body.len() > MAX_BODY {
        return Err(PushError::PayloadTooLarge {
            size: body.len(),
            max: MAX_BODY,
        });
    }

    let audience = origin(&uri);
    let expires_at = now
        .checked_add(config.vapid_validity)
        .unwrap_or(now)
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let authorization = vapid.authorization(&audience, &config.vapid_subject, expires_at);

    let mut headers = HeaderMap::new();
    headers.insert("ttl", HeaderValue::from(config.ttl.as_secs()));
    headers.insert("urgency", HeaderValue::from_static(config.urgency.as_str()));
    if let Some(topic) = notice.topic() {
        // Topics are checked to be base64url characters, so this cannot fail.
        if let Ok(topic) = HeaderValue::from_str(topic) {
            headers.insert("topic", topic);
        }
    }
    headers.insert(CONTENT_ENCODING, HeaderValue::from_static("aes128gcm"));
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let mut authorization = HeaderValue::from_str(&authorization)
        .map_err(|_| PushError::Build("VAPID subject is not a valid header value".to_owned()))?;
    authorization.set_sensitive(true);
    headers.insert(AUTHORIZATION, authorization);

    Ok(Prepared {
        provider: WEBPUSH,
        uri,
        origin: audience,
        headers,
        body: Bytes::from(body),
    })
}

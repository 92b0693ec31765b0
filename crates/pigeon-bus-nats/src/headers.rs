//! Envelope fields ⇄ NATS headers.
//!
//! Everything an [`Envelope`] carries besides its payload travels as NATS headers, so peers
//! written in any language with any NATS client read and write pigeon messages without a pigeon
//! library: trace context is plain `traceparent` / `tracestate` / `baggage`, as the W3C and the
//! OpenTelemetry messaging conventions expect.
//!
//! | envelope field | NATS header |
//! |---|---|
//! | `id` | `Nats-Msg-Id` (JetStream de-duplicates on it within the duplicate window) |
//! | `key` | `Pigeon-Key` |
//! | `published_at` | JetStream's own timestamp of the message; or `Pigeon-Published-At`, Unix nanoseconds, when [`NatsConfig::publish_time_header`](crate::NatsConfig::publish_time_header) is on |
//! | `headers` | as they are (names lowercase) |
//!
//! Why `published_at` is not a header by default: JetStream already stamps every stored
//! message, and every header costs on every hop — the server parses and stores it and each
//! consumer parses it again. Measured here, the extra header took 5–10 % of end-to-end
//! throughput for a difference of well under a millisecond (publisher clock at publish vs
//! server clock at store). A received `Pigeon-Published-At` always wins over the stamp, so
//! publishers with the header on and off mix freely.
//!
//! A message from a foreign peer may lack `Nats-Msg-Id`: its id then comes from its stream
//! sequence (see `consumer`).

use std::sync::Arc;
use std::time::SystemTime;

use async_nats::HeaderMap;
use async_nats::header::{HeaderName, HeaderValue};
use pigeon_bus::{Envelope, Headers, time_from_nanos};
use thiserror::Error;

/// Header carrying the message id; JetStream de-duplicates on it.
pub const MESSAGE_ID: &str = "Nats-Msg-Id";
/// Header carrying the message key.
pub const KEY: &str = "Pigeon-Key";
/// Header carrying the publish time in Unix nanoseconds.
pub const PUBLISHED_AT: &str = "Pigeon-Published-At";

/// A header NATS cannot carry.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// Names must be non-empty printable ASCII without `:`.
    #[error("header name {0:?} cannot travel over NATS (printable ASCII without ':' only)")]
    Name(String),
    /// Values cannot contain line breaks.
    #[error("the value of header {0:?} contains a line break")]
    Value(String),
}

/// The NATS headers of `envelope`, with `Pigeon-Published-At` when `publish_time` is set. User
/// headers named like one of ours are replaced by ours.
pub(crate) fn to_nats(envelope: &Envelope, publish_time: bool) -> Result<HeaderMap, HeaderError> {
    let mut map = HeaderMap::new();
    for (name, value) in envelope.headers.iter() {
        if is_reserved(name) {
            continue;
        }
        if name.is_empty() {
            return Err(HeaderError::Name(name.to_owned()));
        }
        let header_name: HeaderName = name
            .parse()
            .map_err(|_| HeaderError::Name(name.to_owned()))?;
        let header_value: HeaderValue = value
            .parse()
            .map_err(|_| HeaderError::Value(name.to_owned()))?;
        map.insert(header_name, header_value);
    }
    let id: HeaderValue = envelope
        .id
        .as_str()
        .parse()
        .map_err(|_| HeaderError::Value(MESSAGE_ID.to_owned()))?;
    map.insert(HeaderName::from_static(MESSAGE_ID), id);
    if let Some(key) = &envelope.key {
        let key: HeaderValue = key
            .parse()
            .map_err(|_| HeaderError::Value(KEY.to_owned()))?;
        map.insert(HeaderName::from_static(KEY), key);
    }
    if publish_time {
        map.insert(
            HeaderName::from_static(PUBLISHED_AT),
            HeaderValue::from(envelope.published_at_nanos()),
        );
    }
    Ok(map)
}

/// What the NATS headers of a received message say about its envelope.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    /// From `Nats-Msg-Id`.
    pub(crate) id: Option<String>,
    /// From `Pigeon-Key`.
    pub(crate) key: Option<Arc<str>>,
    /// From `Pigeon-Published-At`, when it parses.
    pub(crate) published_at: Option<SystemTime>,
    /// Every other header, names lowercased; the last value of a repeated name wins.
    pub(crate) headers: Headers,
}

/// Splits received NATS headers into envelope fields and user headers.
pub(crate) fn from_nats(map: Option<&HeaderMap>) -> Decoded {
    let mut decoded = Decoded::default();
    let Some(map) = map else {
        return decoded;
    };
    for (name, values) in map.iter() {
        let name: &str = name.as_ref();
        let Some(value) = values.last().map(HeaderValue::as_str) else {
            continue;
        };
        if name.eq_ignore_ascii_case(MESSAGE_ID) {
            decoded.id = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case(KEY) {
            decoded.key = Some(Arc::from(value));
        } else if name.eq_ignore_ascii_case(PUBLISHED_AT) {
            decoded.published_at = value.parse::<u64>().ok().map(time_from_nanos);
        } else {
            decoded.headers.insert(name, value);
        }
    }
    decoded
}

fn is_reserved(name: &str) -> bool {
    [MESSAGE_ID, KEY, PUBLISHED_AT]
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use pigeon_bus::MessageId;

    use super::*;

    fn envelope(headers: Headers, key: Option<&str>) -> Envelope {
        Envelope {
            id: MessageId::from("id-1"),
            topic: Arc::from("t"),
            key: key.map(Arc::from),
            headers,
            payload: Bytes::from_static(b"x"),
            published_at: SystemTime::UNIX_EPOCH + Duration::from_nanos(1_700_000_000_000_000_123),
            transient: false,
        }
    }

    #[test]
    fn round_trip() {
        let headers: Headers = [("traceparent", "00-abc-def-01"), ("x-user", "1")]
            .into_iter()
            .collect();
        let env = envelope(headers.clone(), Some("k"));
        let map = to_nats(&env, true).unwrap();
        assert_eq!(map.get(MESSAGE_ID).unwrap().as_str(), "id-1");
        assert_eq!(map.get(KEY).unwrap().as_str(), "k");
        assert_eq!(
            map.get(PUBLISHED_AT).unwrap().as_str(),
            "1700000000000000123"
        );
        assert_eq!(map.get("traceparent").unwrap().as_str(), "00-abc-def-01");

        let decoded = from_nats(Some(&map));
        assert_eq!(decoded.id.as_deref(), Some("id-1"));
        assert_eq!(decoded.key.as_deref(), Some("k"));
        assert_eq!(decoded.published_at, Some(env.published_at));
        let mut got: Vec<_> = decoded.headers.iter().collect();
        got.sort();
        assert_eq!(got, vec![("traceparent", "00-abc-def-01"), ("x-user", "1")]);
    }

    #[test]
    fn publish_time_header_only_when_asked() {
        let map = to_nats(&envelope(Headers::new(), None), false).unwrap();
        assert!(map.get(PUBLISHED_AT).is_none());
        assert!(from_nats(Some(&map)).published_at.is_none());
    }

    #[test]
    fn no_key_no_key_header() {
        let map = to_nats(&envelope(Headers::new(), None), true).unwrap();
        assert!(map.get(KEY).is_none());
        assert!(from_nats(Some(&map)).key.is_none());
    }

    #[test]
    fn user_headers_cannot_spoof_ours() {
        let headers: Headers = [("pigeon-key", "spoof"), ("nats-msg-id", "spoof")]
            .into_iter()
            .collect();
        let map = to_nats(&envelope(headers, None), true).unwrap();
        let decoded = from_nats(Some(&map));
        assert_eq!(decoded.id.as_deref(), Some("id-1"));
        assert!(decoded.key.is_none());
        assert!(decoded.headers.is_empty());
    }

    #[test]
    fn invalid_headers_are_errors_not_panics() {
        let bad_name: Headers = [("a:b", "v")].into_iter().collect();
        assert_eq!(
            to_nats(&envelope(bad_name, None), true),
            Err(HeaderError::Name("a:b".into()))
        );
        let bad_value: Headers = [("a", "v\r\nx: y")].into_iter().collect();
        assert_eq!(
            to_nats(&envelope(bad_value, None), true),
            Err(HeaderError::Value("a".into()))
        );
        assert!(to_nats(&envelope(Headers::new(), Some("k\n")), true).is_err());
    }

    #[test]
    fn foreign_headers_are_lowercased_and_missing_fields_are_none() {
        let mut map = HeaderMap::new();
        map.insert("TraceParent", "00-x");
        map.insert(PUBLISHED_AT, "not a number");
        let decoded = from_nats(Some(&map));
        assert!(decoded.id.is_none());
        assert!(decoded.published_at.is_none());
        assert_eq!(
            decoded.headers.iter().collect::<Vec<_>>(),
            vec![("traceparent", "00-x")]
        );
        assert!(from_nats(None).headers.is_empty());
    }
}

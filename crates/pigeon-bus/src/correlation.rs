//! Trace context in the payload, for transports that carry no headers.
//!
//! Seed 002's system sends its trace context inside the JSON message as a `CorrelationId` field
//! (its broker had no headers). [`CorrelationId`] is an OpenTelemetry carrier over such a field: it
//! holds the W3C `traceparent` (and `tracestate` when present) as one string,
//! `"<traceparent>;<tracestate>"`, so a payload gains a single field rather than several.
//!
//! A bus built with [`ContextCarrier::CorrelationId`] uses it for every message it publishes
//! (JSON object payloads; others keep headers), and every subscriber reads it when a message has
//! no `traceparent` header, so a consumer need not know how its producer was configured.

use bytes::Bytes;
use opentelemetry::propagation::{Extractor, Injector};

/// Where a bus puts the trace context of the messages it publishes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ContextCarrier {
    /// In the message headers (`traceparent`, `tracestate`, `baggage`): the default.
    #[default]
    Headers,
    /// In a `CorrelationId` field of the JSON payload, for transports and peers that drop
    /// headers (seed 002's broker). Payloads that are not JSON objects fall back to headers;
    /// baggage does not travel this way.
    CorrelationId,
}

/// The name of the payload field that carries trace context.
pub const CORRELATION_ID_FIELD: &str = "CorrelationId";

/// A carrier over one string field; inject into a fresh one, read it back out of a payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorrelationId {
    traceparent: Option<String>,
    tracestate: Option<String>,
}

impl CorrelationId {
    /// An empty carrier, to inject into.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a field value written by [`CorrelationId::to_field`].
    pub fn parse(field: &str) -> Self {
        let (parent, state) = match field.split_once(';') {
            Some((p, s)) => (p, Some(s)),
            None => (field, None),
        };
        Self {
            traceparent: Some(parent.trim().to_owned()).filter(|s| !s.is_empty()),
            tracestate: state.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()),
        }
    }

    /// The field value, or `None` when nothing was injected.
    pub fn to_field(&self) -> Option<String> {
        let parent = self.traceparent.as_ref()?;
        Some(match &self.tracestate {
            Some(state) => format!("{parent};{state}"),
            None => parent.clone(),
        })
    }

    /// Reads the field out of a JSON object payload, if present and a string.
    pub fn from_json(value: &serde_json::Value) -> Option<Self> {
        value
            .get(CORRELATION_ID_FIELD)
            .and_then(serde_json::Value::as_str)
            .map(Self::parse)
    }

    /// Writes the field into a JSON object payload; does nothing to a non-object or when empty.
    pub fn write_json(&self, value: &mut serde_json::Value) {
        if let (Some(obj), Some(field)) = (value.as_object_mut(), self.to_field()) {
            obj.insert(CORRELATION_ID_FIELD.to_owned(), field.into());
        }
    }
}

/// The payload with `carrier` written into its `CorrelationId` field, or `None` when the payload
/// is not a JSON object.
pub(crate) fn write_into_payload(payload: &[u8], carrier: &CorrelationId) -> Option<Bytes> {
    let mut value: serde_json::Value = serde_json::from_slice(payload).ok()?;
    if !value.is_object() {
        return None;
    }
    carrier.write_json(&mut value);
    serde_json::to_vec(&value).ok().map(Bytes::from)
}

/// The `CorrelationId` field of a JSON object payload, if it has one. Only payloads that open
/// a JSON object and mention the field are parsed: this runs for every delivery that came
/// without a `traceparent` header.
pub(crate) fn read_from_payload(payload: &[u8]) -> Option<CorrelationId> {
    let name = CORRELATION_ID_FIELD.as_bytes();
    let opens_object = payload.trim_ascii_start().first() == Some(&b'{');
    if !opens_object || !payload.windows(name.len()).any(|w| w == name) {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
    CorrelationId::from_json(&value)
}

impl Injector for CorrelationId {
    fn set(&mut self, key: &str, value: String) {
        if value.is_empty() {
            return;
        }
        match key {
            "traceparent" => self.traceparent = Some(value),
            "tracestate" => self.tracestate = Some(value),
            _ => {}
        }
    }
}

impl Extractor for CorrelationId {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => self.traceparent.as_deref(),
            "tracestate" => self.tracestate.as_deref(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        let mut keys = Vec::new();
        if self.traceparent.is_some() {
            keys.push("traceparent");
        }
        if self.tracestate.is_some() {
            keys.push("tracestate");
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn field_round_trips_with_and_without_state() {
        let mut c = CorrelationId::new();
        Injector::set(&mut c, "traceparent", PARENT.into());
        assert_eq!(c.to_field().as_deref(), Some(PARENT));
        Injector::set(&mut c, "tracestate", "k=v".into());
        let field = c.to_field().unwrap();
        assert_eq!(CorrelationId::parse(&field), c);
    }

    #[test]
    fn json_field_is_written_and_read() {
        let mut c = CorrelationId::new();
        Injector::set(&mut c, "traceparent", PARENT.into());
        let mut v = serde_json::json!({"text": "hi"});
        c.write_json(&mut v);
        assert_eq!(v[CORRELATION_ID_FIELD], PARENT);
        assert_eq!(CorrelationId::from_json(&v), Some(c));
        assert_eq!(CorrelationId::from_json(&serde_json::json!({})), None);
    }

    #[test]
    fn payload_field_is_written_only_into_json_objects() {
        let mut c = CorrelationId::new();
        Injector::set(&mut c, "traceparent", PARENT.into());
        let written = write_into_payload(br#"{"text":"hi"}"#, &c).unwrap();
        assert_eq!(read_from_payload(&written), Some(c.clone()));
        assert_eq!(write_into_payload(b"[1,2]", &c), None);
        assert_eq!(write_into_payload(b"not json", &c), None);
        assert_eq!(read_from_payload(br#"{"text":"no field"}"#), None);
        assert_eq!(read_from_payload(b"CorrelationId but not json"), None);
    }

    #[test]
    fn empty_carrier_writes_nothing() {
        let mut v = serde_json::json!({});
        CorrelationId::new().write_json(&mut v);
        assert_eq!(v, serde_json::json!({}));
    }
}

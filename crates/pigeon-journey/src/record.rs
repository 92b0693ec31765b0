//! The span record the store takes in and hands back.
//!
//! It is deliberately plain (owned strings, no OpenTelemetry types): the SDK span processor
//! and the OTLP receiver convert into it, and query answers serialize it as JSON. The store
//! never keeps it in this form; see `compact` for the stored representation.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::id::{SpanId, TraceId};

/// What a span stands for, as in OpenTelemetry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    /// Work inside one service.
    #[default]
    Internal,
    /// Handling a synchronous request.
    Server,
    /// Making a synchronous request.
    Client,
    /// Handing a message to a broker or queue.
    Producer,
    /// Processing a message taken from a broker or queue.
    Consumer,
}

impl SpanKind {
    pub(crate) fn to_u8(self) -> u8 {
        match self {
            Self::Internal => 0,
            Self::Server => 1,
            Self::Client => 2,
            Self::Producer => 3,
            Self::Consumer => 4,
        }
    }

    pub(crate) fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::Internal,
            1 => Self::Server,
            2 => Self::Client,
            3 => Self::Producer,
            4 => Self::Consumer,
            _ => return None,
        })
    }
}

/// The outcome of a span.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Status {
    /// Nothing was said.
    #[default]
    Unset,
    /// Explicitly successful.
    Ok,
    /// Failed.
    Error {
        /// Why, if the instrumentation said.
        message: String,
    },
}

impl Status {
    /// True for [`Status::Error`].
    pub fn is_error(&self) -> bool {
        matches!(self, Self::Error { .. })
    }
}

/// A typed attribute value. Arrays are carried as their string rendering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttrValue {
    /// Text (also arrays, rendered).
    Str(String),
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// A float.
    F64(f64),
}

impl AttrValue {
    /// The value as text, the form used for indexing and matching (`42` for `I64(42)`).
    pub fn to_text(&self) -> Cow<'_, str> {
        match self {
            Self::Str(s) => Cow::Borrowed(s),
            Self::Bool(b) => Cow::Owned(b.to_string()),
            Self::I64(i) => Cow::Owned(i.to_string()),
            Self::F64(f) => Cow::Owned(f.to_string()),
        }
    }

    /// The value as a float, if it is numeric (used for `pigeon.queue_time_ms`).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::I64(i) => Some(*i as f64),
            Self::F64(f) => Some(*f),
            Self::Str(s) => s.parse().ok(),
            Self::Bool(_) => None,
        }
    }
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> Self {
        Self::Str(s.to_owned())
    }
}
impl From<String> for AttrValue {
    fn from(s: String) -> Self {
        Self::Str(s)
    }
}
impl From<bool> for AttrValue {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}
impl From<i64> for AttrValue {
    fn from(i: i64) -> Self {
        Self::I64(i)
    }
}
impl From<f64> for AttrValue {
    fn from(f: f64) -> Self {
        Self::F64(f)
    }
}

/// One attribute.
///
/// The key is a `Cow<'static, str>` because keys are nearly always literals in the
/// instrumentation (as OpenTelemetry's `Key::from_static_str`): a static key costs the
/// producer no allocation and the store no free per span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    /// The attribute key, e.g. `messaging.message.id`.
    pub key: Cow<'static, str>,
    /// Its value.
    pub value: AttrValue,
}

impl KeyValue {
    /// A key-value pair.
    pub fn new(key: impl Into<Cow<'static, str>>, value: impl Into<AttrValue>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// Something that happened during a span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Event name, e.g. `exception`.
    pub name: String,
    /// When, in unix nanoseconds.
    pub time_unix_nano: u64,
    /// Its attributes.
    pub attributes: Vec<KeyValue>,
}

/// A causal link from this span to a span, usually of another trace (a message batch, a
/// delivery receipt answering a send).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// The linked span's trace.
    pub trace_id: TraceId,
    /// The linked span.
    pub span_id: SpanId,
    /// Attributes of the link itself.
    pub attributes: Vec<KeyValue>,
}

/// One finished span, as ingested and as returned by queries.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SpanRecord {
    /// Its trace.
    pub trace_id: TraceId,
    /// Its own id.
    pub span_id: SpanId,
    /// The parent span, if any.
    pub parent_span_id: Option<SpanId>,
    /// The operation name, e.g. `send orders.created`.
    pub name: String,
    /// What kind of work.
    pub kind: SpanKind,
    /// `service.name` of the emitting process.
    pub service: String,
    /// Start, unix nanoseconds.
    pub start_unix_nano: u64,
    /// End, unix nanoseconds.
    pub end_unix_nano: u64,
    /// Outcome.
    pub status: Status,
    /// Span attributes.
    pub attributes: Vec<KeyValue>,
    /// Span events.
    pub events: Vec<Event>,
    /// Links to other spans.
    pub links: Vec<Link>,
    /// Attributes of the emitting resource (besides `service.name`).
    pub resource: Vec<KeyValue>,
}

impl SpanRecord {
    /// `end - start` in nanoseconds (0 if the clock went backwards).
    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nano.saturating_sub(self.start_unix_nano)
    }

    /// The value of the first attribute with this key.
    pub fn attribute(&self, key: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| &kv.value)
    }
}

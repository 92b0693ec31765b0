//! The unit the bus carries: an [`Envelope`], and the [`OutgoingMessage`] a publisher builds.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::Headers;

/// A message id: unique per message, kept across redeliveries, used for de-duplication
/// (`Nats-Msg-Id`) and as `messaging.message.id`. Defaults to a UUIDv7, so ids sort by time.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(Arc<str>);

impl MessageId {
    /// A fresh time-ordered id.
    pub fn generate() -> Self {
        Self::generate_at(SystemTime::now())
    }

    /// A fresh id for a message published at `at` (ids sort by that time, to the millisecond).
    pub fn generate_at(at: SystemTime) -> Self {
        let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, since.as_secs(), since.subsec_nanos());
        let mut buf = uuid::Uuid::encode_buffer();
        let text = uuid::Uuid::new_v7(ts).hyphenated().encode_lower(&mut buf);
        Self(Arc::from(&*text))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as a shared string (for span attributes, without a copy).
    pub fn to_shared(&self) -> Arc<str> {
        self.0.clone()
    }
}

impl From<&str> for MessageId {
    fn from(s: &str) -> Self {
        Self(Arc::from(s))
    }
}

impl From<String> for MessageId {
    fn from(s: String) -> Self {
        Self(Arc::from(s))
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({})", self.0)
    }
}

/// A message as the bus stores and delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Unique id, kept across redeliveries.
    pub id: MessageId,
    /// The topic it was published to.
    pub topic: Arc<str>,
    /// Messages with the same key are handled in publish order within a consumer group.
    pub key: Option<Arc<str>>,
    /// Headers, trace context among them.
    pub headers: Headers,
    /// The body; the bus looks inside only to carry trace context in a `CorrelationId` field,
    /// when configured to ([`ContextCarrier`](crate::ContextCarrier)).
    pub payload: Bytes,
    /// When the publisher handed it to the bus.
    pub published_at: SystemTime,
    /// Kept in memory only, never written to a durable log (see
    /// [`OutgoingMessage::transient`]).
    pub transient: bool,
}

impl Envelope {
    /// The bytes this message takes against a backend's size limit.
    pub fn encoded_len(&self) -> usize {
        self.payload.len()
            + self.headers.encoded_len()
            + self.topic.len()
            + self.key.as_deref().map_or(0, str::len)
            + self.id.as_str().len()
    }

    /// `published_at` as nanoseconds since the Unix epoch, for wire formats.
    pub fn published_at_nanos(&self) -> u64 {
        nanos_since_epoch(self.published_at)
    }
}

/// Nanoseconds since the Unix epoch, saturating; 0 for times before it.
pub fn nanos_since_epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The inverse of [`nanos_since_epoch`].
pub fn time_from_nanos(nanos: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

/// Anything that names a topic: `&str`, `String`, or a shared `Arc<str>` (no copy).
pub trait IntoTopic {
    /// The topic name as the envelope keeps it.
    fn into_topic(self) -> Arc<str>;
}

impl IntoTopic for &str {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self)
    }
}

impl IntoTopic for String {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self)
    }
}

impl IntoTopic for &String {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self.as_str())
    }
}

impl IntoTopic for Arc<str> {
    fn into_topic(self) -> Arc<str> {
        self
    }
}

impl IntoTopic for &Arc<str> {
    fn into_topic(self) -> Arc<str> {
        self.clone()
    }
}

/// What a publisher hands to [`Bus::publish`](crate::Bus::publish).
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    pub(crate) topic: Arc<str>,
    pub(crate) payload: Bytes,
    pub(crate) key: Option<Arc<str>>,
    pub(crate) id: Option<MessageId>,
    pub(crate) headers: Headers,
    pub(crate) transient: bool,
}

impl OutgoingMessage {
    /// A message for `topic` with `payload`; a fresh id, no key, no headers. Passing the topic
    /// as an `Arc<str>` that is reused saves an allocation per message.
    pub fn new(topic: impl IntoTopic, payload: impl Into<Bytes>) -> Self {
        Self {
            topic: topic.into_topic(),
            payload: payload.into(),
            key: None,
            id: None,
            headers: Headers::new(),
            transient: false,
        }
    }

    /// Orders this message after earlier ones with the same key, within each consumer group.
    pub fn key(mut self, key: impl AsRef<str>) -> Self {
        self.key = Some(Arc::from(key.as_ref()));
        self
    }

    /// Uses `id` instead of a generated one; publishing the same id twice is de-duplicated by
    /// backends that support it (NATS within its duplicate window).
    pub fn id(mut self, id: impl Into<MessageId>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Lets the in-process backend keep this message in memory only: it is delivered like any
    /// other while the process runs, but not written to the durable log, so publishing costs
    /// no disk write and no sync — and a crash loses it. For hints whose loss is repaired
    /// elsewhere (Pigeon's delivery notices: the mailbox is the truth). Backends that store
    /// every message anyway (NATS JetStream) ignore it.
    pub fn transient(mut self) -> Self {
        self.transient = true;
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Replaces all headers.
    pub fn headers(mut self, headers: Headers) -> Self {
        self.headers = headers;
        self
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_unique_and_time_ordered() {
        let a = MessageId::generate();
        assert_ne!(a, MessageId::generate());
        let later = MessageId::generate_at(SystemTime::now() + Duration::from_millis(2));
        assert!(a < later, "{a} then {later}");
        assert_eq!(a.as_str().len(), 36);
    }

    #[test]
    fn nanos_round_trip() {
        let t = time_from_nanos(1_700_000_000_123_456_789);
        assert_eq!(nanos_since_epoch(t), 1_700_000_000_123_456_789);
    }
}

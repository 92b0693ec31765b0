//! What a push says: only that a message is waiting, never what it says.
//!
//! The server stores ciphertext it cannot read, and push services are third parties, so a
//! notice carries ids only (DESIGN.md "Privacy"): the woken client fetches the message over
//! its own authenticated connection. The JSON is
//! `{"type":"message","message_id":"…","sender":"…"}`; Web Push encrypts it to the device
//! besides (RFC 8291), a webhook gets it as the body.

use serde::{Deserialize, Serialize};

/// Largest JSON notice that fits one Web Push record: 4096 bytes minus the aes128gcm header
/// with a 65-byte key id (86) and the padding delimiter plus tag (17).
pub const MAX_NOTICE_BYTES: usize = 4096 - 86 - 17;

/// Kind of event a notice announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A new direct message waits in the device's mailbox.
    Message,
}

/// The body of a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushNotice {
    /// Event kind, serialized as `"type"`.
    #[serde(rename = "type")]
    pub kind: NoticeKind,
    /// Server id of the waiting message.
    pub message_id: String,
    /// User id of its sender.
    pub sender: String,
    /// Optional Web Push `Topic` (RFC 8030 §5.4): a newer push with the same topic replaces an
    /// undelivered older one at the push service. Not part of the JSON.
    #[serde(skip)]
    topic: Option<String>,
}

/// A topic that RFC 8030 §5.4 does not allow: at most 32 characters of the base64url alphabet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("push topic must be 1 to 32 characters of [A-Za-z0-9_-]")]
pub struct InvalidTopic;

impl PushNotice {
    /// A notice for a new message.
    pub fn message(message_id: impl Into<String>, sender: impl Into<String>) -> Self {
        Self {
            kind: NoticeKind::Message,
            message_id: message_id.into(),
            sender: sender.into(),
            topic: None,
        }
    }

    /// Sets the Web Push `Topic` header (webhooks ignore it).
    pub fn with_topic(mut self, topic: impl Into<String>) -> Result<Self, InvalidTopic> {
        let topic = topic.into();
        let valid = (1..=32).contains(&topic.len())
            && topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(InvalidTopic);
        }
        self.topic = Some(topic);
        Ok(self)
    }

    /// The Web Push topic, if any.
    pub fn topic(&self) -> Option<&str> {
        self.topic.as_deref()
    }

    /// The JSON body.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        // Serializing a struct of strings and a unit enum cannot fail; fall back to an empty
        // object rather than panic should that ever change.
        serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let notice = PushNotice::message("m1", "u1")
            .with_topic("conv-1")
            .unwrap();
        assert_eq!(
            String::from_utf8(notice.to_json()).unwrap(),
            r#"{"type":"message","message_id":"m1","sender":"u1"}"#
        );
        assert_eq!(notice.topic(), Some("conv-1"));
    }

    #[test]
    fn topics_are_checked() {
        assert!(PushNotice::message("m", "u").with_topic("").is_err());
        assert!(PushNotice::message("m", "u").with_topic("a b").is_err());
        assert!(
            PushNotice::message("m", "u")
                .with_topic("x".repeat(33))
                .is_err()
        );
    }
}

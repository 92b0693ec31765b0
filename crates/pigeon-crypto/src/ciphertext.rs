//! The wire form of one encrypted message, and the telemetry facts that come
//! with encrypting it.
//!
//! Why a type of our own: the JSON API carries `{"message_type":"pre_key",
//! "body":"<base64>"}`, which the server stores and relays without
//! understanding. The body is the unpadded base64 of vodozemac's
//! [`OlmMessage::to_parts`] bytes, so any Olm implementation can read it.

use serde::{Deserialize, Serialize};
use vodozemac::olm::OlmMessage;

use crate::error::DecryptError;

/// The algorithm name for span attribute `encryption.algorithm`.
pub const ALGORITHM: &str = "olm.v1.curve25519-aes-sha2";

/// Olm message kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    /// Carries the key-exchange data that lets the recipient create the
    /// session; sent until the sender has decrypted a reply.
    PreKey,
    /// A message of an established session.
    Normal,
}

impl MessageType {
    fn olm_code(self) -> usize {
        match self {
            Self::PreKey => 0,
            Self::Normal => 1,
        }
    }
}

/// One Olm ciphertext for one recipient device.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ciphertext {
    /// Pre-key or normal.
    pub message_type: MessageType,
    /// Unpadded base64 of the Olm message bytes.
    pub body: String,
}

impl Ciphertext {
    pub(crate) fn from_olm(message: &OlmMessage) -> Self {
        let (code, bytes) = message.to_parts();
        let message_type = if code == 0 {
            MessageType::PreKey
        } else {
            MessageType::Normal
        };
        Self {
            message_type,
            body: vodozemac::base64_encode(bytes),
        }
    }

    pub(crate) fn to_olm(&self) -> Result<OlmMessage, DecryptError> {
        let bytes = vodozemac::base64_decode(&self.body)
            .map_err(|e| DecryptError::Malformed(e.to_string()))?;
        OlmMessage::from_parts(self.message_type.olm_code(), &bytes)
            .map_err(|e| DecryptError::Malformed(e.to_string()))
    }

    /// Length of the body as sent on the wire, for span attribute
    /// `encryption.ciphertext_length`.
    pub fn len(&self) -> usize {
        self.body.len()
    }

    /// Whether the body is empty (never true for a real ciphertext).
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }
}

/// The result of [`Conversation::encrypt`](crate::Conversation::encrypt):
/// the ciphertext, plus the facts a caller records on its
/// `messaging.encrypt` span.
///
/// The rule for `key_version` and `key_rotated` is documented on
/// [`Conversation`](crate::Conversation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encrypted {
    /// What to send.
    pub ciphertext: Ciphertext,
    /// Span attribute `encryption.key_version`: which sending ratchet key of
    /// this session, counted from 1, encrypted the message.
    pub key_version: u64,
    /// `Some((old, new))` when this message is the first under a new sending
    /// ratchet key, or the first of a session made from a fallback key
    /// (`(0, 1)`): span event `key_rotation_triggered` with
    /// `old_key_version` / `new_key_version`.
    pub key_rotated: Option<(u64, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape() {
        let ct = Ciphertext {
            message_type: MessageType::PreKey,
            body: "AAEC".into(),
        };
        assert_eq!(
            serde_json::to_string(&ct).unwrap(),
            r#"{"message_type":"pre_key","body":"AAEC"}"#
        );
        let ct: Ciphertext =
            serde_json::from_str(r#"{"message_type":"normal","body":"x"}"#).unwrap();
        assert_eq!(ct.message_type, MessageType::Normal);
    }

    #[test]
    fn garbage_is_a_typed_error() {
        for body in ["", "!!!", "AAAA", "AwoAEiA"] {
            for message_type in [MessageType::PreKey, MessageType::Normal] {
                let ct = Ciphertext {
                    message_type,
                    body: body.into(),
                };
                assert!(
                    matches!(ct.to_olm(), Err(DecryptError::Malformed(_))),
                    "{body}"
                );
            }
        }
    }
}

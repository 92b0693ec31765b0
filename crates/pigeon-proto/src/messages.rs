//! Sending: `POST /v1/messages` with one ciphertext per target device.
//!
//! The targets must be exactly the recipient's current devices plus the sender's other current
//! devices; otherwise the server answers 409 `stale_devices` with [`StaleDevices`] in
//! `details`, stores nothing, and the client refreshes its device lists and sessions and retries
//! with the same `client_msg_id`. A retry of a send that was stored returns the same message id
//! with `duplicate: true`.

use serde::{Deserialize, Serialize};

use crate::{ClientMsgId, DeviceId, DeviceRef, Limits, MessageId, UserId};

/// Olm's two message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    /// Starts a session (carries the one-time key used).
    PreKey,
    /// Within an established session.
    Normal,
}

/// One target device's ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceCiphertext {
    /// The target device.
    pub device: DeviceRef,
    /// Olm message type.
    pub message_type: MessageType,
    /// Unpadded standard base64 of the Olm message.
    pub body: String,
}

/// `POST /v1/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// The client's id of this send; retries reuse it.
    pub client_msg_id: ClientMsgId,
    /// The user the message is for.
    pub recipient: UserId,
    /// One per recipient device and per other device of the sender.
    pub ciphertexts: Vec<DeviceCiphertext>,
}

/// Why a send request is refused before it reaches the store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendCheckError {
    /// No ciphertext at all.
    #[error("a send needs at least one ciphertext")]
    Empty,
    /// More targets than allowed.
    #[error("{count} targets exceed the limit of {max}")]
    TooManyTargets {
        /// Targets in the request.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A ciphertext over the limit.
    #[error("ciphertext for device {device} is {size} bytes, over the limit of {max}")]
    TooLarge {
        /// The device whose ciphertext is too large.
        device: DeviceId,
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A body that is not base64.
    #[error("ciphertext for device {device} is not unpadded base64")]
    NotBase64 {
        /// The device whose ciphertext is malformed.
        device: DeviceId,
    },
    /// The same device twice.
    #[error("device {device} appears twice")]
    DuplicateTarget {
        /// The repeated device.
        device: DeviceId,
    },
}

impl SendRequest {
    /// Checks what can be checked without the store: sizes, counts, base64, duplicates.
    pub fn check(&self, limits: &Limits) -> Result<(), SendCheckError> {
        if self.ciphertexts.is_empty() {
            return Err(SendCheckError::Empty);
        }
        if self.ciphertexts.len() > limits.max_targets {
            return Err(SendCheckError::TooManyTargets {
                count: self.ciphertexts.len(),
                max: limits.max_targets,
            });
        }
        let mut seen = std::collections::HashSet::new();
        for c in &self.ciphertexts {
            let device = c.device.device_id.clone();
            if c.body.len() > limits.max_ciphertext_bytes {
                return Err(SendCheckError::TooLarge {
                    device,
                    size: c.body.len(),
                    max: limits.max_ciphertext_bytes,
                });
            }
            if !is_base64(&c.body) {
                return Err(SendCheckError::NotBase64 { device });
            }
            if !seen.insert(&c.device.device_id) {
                return Err(SendCheckError::DuplicateTarget { device });
            }
        }
        Ok(())
    }
}

/// True when `s` is non-empty unpadded standard base64 (what vodozemac writes).
pub fn is_base64(s: &str) -> bool {
    !s.is_empty()
        && s.len() % 4 != 1
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// The answer to an accepted send: stored durably for every target device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendResponse {
    /// The server's id of the message.
    pub message_id: MessageId,
    /// When it was accepted, milliseconds since the Unix epoch.
    pub sent_at_ms: u64,
    /// True when this was a retry of a send already stored.
    pub duplicate: bool,
}

/// `details` of a 409 `stale_devices`: the current devices of the users involved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleDevices {
    /// Every current target device (the recipient's and the sender's other ones).
    pub current: Vec<DeviceRef>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(bodies: &[&str]) -> SendRequest {
        SendRequest {
            client_msg_id: ClientMsgId::new("c1").unwrap(),
            recipient: UserId::new("bob").unwrap(),
            ciphertexts: bodies
                .iter()
                .enumerate()
                .map(|(i, b)| DeviceCiphertext {
                    device: DeviceRef {
                        user_id: UserId::new("bob").unwrap(),
                        device_id: DeviceId::new(format!("d{i}")).unwrap(),
                    },
                    message_type: MessageType::Normal,
                    body: (*b).to_owned(),
                })
                .collect(),
        }
    }

    #[test]
    fn checks_base64_size_count_and_duplicates() {
        let limits = Limits::default();
        assert_eq!(request(&["AAAA", "AwE"]).check(&limits), Ok(()));
        assert!(matches!(
            request(&[]).check(&limits),
            Err(SendCheckError::Empty)
        ));
        assert!(matches!(
            request(&["A==="]).check(&limits),
            Err(SendCheckError::NotBase64 { .. })
        ));
        assert!(matches!(
            request(&["AAAAA"]).check(&limits),
            Err(SendCheckError::NotBase64 { .. })
        ));
        let big = "A".repeat(limits.max_ciphertext_bytes + 4);
        assert!(matches!(
            request(&[&big]).check(&limits),
            Err(SendCheckError::TooLarge { .. })
        ));
        let many: Vec<&str> = std::iter::repeat_n("AAAA", limits.max_targets + 1).collect();
        assert!(matches!(
            request(&many).check(&limits),
            Err(SendCheckError::TooManyTargets { .. })
        ));
        let mut dup = request(&["AAAA", "AAAA"]);
        dup.ciphertexts[1].device = dup.ciphertexts[0].device.clone();
        assert!(matches!(
            dup.check(&limits),
            Err(SendCheckError::DuplicateTarget { .. })
        ));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<SendRequest>(
            r#"{"client_msg_id":"c","recipient":"u","ciphertexts":[],"plaintext":"hi"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("plaintext"), "{err}");
    }
}

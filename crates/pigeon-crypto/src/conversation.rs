//! One Olm session with one peer device, plus the bookkeeping that turns
//! vodozemac's ratchet into telemetry facts.
//!
//! Why the wrapper: callers need the wire [`Ciphertext`] rather than
//! vodozemac's types, and `messaging.encrypt` spans want a key version and a
//! rotation event that vodozemac does not report.
//!
//! # `key_version` and `key_rotated`
//!
//! Olm is a double ratchet. A side's *sending ratchet key* is the Curve25519
//! public key carried in every message it sends ([`Message::ratchet_key`]
//! in vodozemac, read here from the message just produced, for pre-key
//! messages from the inner message). It changes exactly when that side
//! encrypts for the first time after decrypting a message under a ratchet key
//! of the peer it had not seen before: in a conversation whose senders go
//! A, A, B, A, A's third message is under a new key, B's first is under B's
//! first key.
//!
//! Each side counts its own sending ratchet keys in this session:
//!
//! * the first message this side sends has `key_version = 1` and no rotation,
//!   unless the session was created from the peer's *fallback* key, in which
//!   case it reports `key_rotated = Some((0, 1))`: the peer had run out of
//!   one-time keys, which operators want to see;
//! * a message under the same ratchet key as the previous one keeps the
//!   version and reports no rotation;
//! * a message under a different ratchet key increments the version and
//!   reports `key_rotated = Some((old, new))`, with `new = old + 1`.
//!
//! So A, A, B, A gives A versions 1, 1, 2 (the last with `Some((1, 2))`) and
//! B version 1. The counter and the last ratchet public key are kept in the
//! pickle, so the count continues across restarts.
//!
//! [`Message::ratchet_key`]: vodozemac::olm::Message::ratchet_key

use std::fmt;

use serde::{Deserialize, Serialize};
use vodozemac::{
    Curve25519PublicKey,
    olm::{OlmMessage, Session, SessionPickle},
};

use crate::{
    ciphertext::{Ciphertext, Encrypted},
    error::{DecryptError, EncryptError, PickleError},
    keys::parse_curve25519,
    pickle::{self, PICKLE_VERSION, PickleKey, Versioned},
};

/// How a session came to be; decides whether its first message reports a
/// rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Origin {
    /// Outbound, from a claimed one-time key.
    OneTimeKey,
    /// Outbound, from the peer's fallback key.
    FallbackKey,
    /// Inbound, from a pre-key message.
    Inbound,
}

/// An Olm session with one peer device.
///
/// Created by [`Device::outbound`](crate::Device::outbound) or
/// [`Device::inbound`](crate::Device::inbound). Sends pre-key messages until
/// it has decrypted a reply, normal messages afterwards. See the module docs
/// for the `key_version` rule.
pub struct Conversation {
    session: Session,
    origin: Origin,
    /// Sending ratchet key of the last message this side sent.
    last_ratchet_key: Option<Curve25519PublicKey>,
    /// Number of distinct sending ratchet keys used so far (0 before the
    /// first message).
    key_version: u64,
}

impl Conversation {
    pub(crate) fn new(session: Session, origin: Origin) -> Self {
        Self {
            session,
            origin,
            last_ratchet_key: None,
            key_version: 0,
        }
    }

    /// Encrypt `plaintext` for the peer device.
    pub fn encrypt(&mut self, plaintext: impl AsRef<[u8]>) -> Result<Encrypted, EncryptError> {
        let message = self.session.encrypt(plaintext)?;
        let ratchet_key = match &message {
            OlmMessage::Normal(m) => m.ratchet_key(),
            OlmMessage::PreKey(m) => m.message().ratchet_key(),
        };
        let key_rotated = self.observe_sending_key(ratchet_key);
        Ok(Encrypted {
            ciphertext: Ciphertext::from_olm(&message),
            key_version: self.key_version,
            key_rotated,
        })
    }

    fn observe_sending_key(&mut self, ratchet_key: Curve25519PublicKey) -> Option<(u64, u64)> {
        let rotated = match self.last_ratchet_key {
            Some(previous) if previous == ratchet_key => None,
            Some(_) => {
                let old = self.key_version;
                self.key_version += 1;
                Some((old, self.key_version))
            }
            None => {
                self.key_version = 1;
                (self.origin == Origin::FallbackKey).then_some((0, 1))
            }
        };
        self.last_ratchet_key = Some(ratchet_key);
        rotated
    }

    /// Decrypt a message from the peer device. On failure the session is
    /// unchanged.
    pub fn decrypt(&mut self, ciphertext: &Ciphertext) -> Result<Vec<u8>, DecryptError> {
        let message = ciphertext.to_olm()?;
        self.decrypt_olm(&message)
    }

    pub(crate) fn decrypt_olm(&mut self, message: &OlmMessage) -> Result<Vec<u8>, DecryptError> {
        Ok(self.session.decrypt(message)?)
    }

    /// The globally unique session id (public; equal on both sides).
    pub fn session_id(&self) -> String {
        self.session.session_id()
    }

    /// Whether a message from the peer has been decrypted, i.e. whether this
    /// side now sends normal rather than pre-key messages.
    pub fn has_received_message(&self) -> bool {
        self.session.has_received_message()
    }

    /// The version of the last message sent (0 before the first).
    pub fn key_version(&self) -> u64 {
        self.key_version
    }

    /// Encrypt the conversation for storage.
    pub fn pickle(&self, key: &PickleKey) -> String {
        pickle::to_json(&self.to_pickle(key))
    }

    /// Restore a conversation from [`Conversation::pickle`].
    pub fn from_pickle(pickle: &str, key: &PickleKey) -> Result<Self, PickleError> {
        Self::from_pickle_struct(pickle::from_json(pickle)?, key)
    }

    pub(crate) fn to_pickle(&self, key: &PickleKey) -> ConversationPickle {
        ConversationPickle {
            v: PICKLE_VERSION,
            session: self.session.pickle().encrypt(key.bytes()),
            origin: self.origin,
            last_ratchet_key: self.last_ratchet_key.map(|k| k.to_base64()),
            key_version: self.key_version,
        }
    }

    pub(crate) fn from_pickle_struct(
        pickle: ConversationPickle,
        key: &PickleKey,
    ) -> Result<Self, PickleError> {
        if pickle.v != PICKLE_VERSION {
            return Err(PickleError::Malformed(format!(
                "unsupported conversation pickle version {}",
                pickle.v
            )));
        }
        let session = SessionPickle::from_encrypted(&pickle.session, key.bytes())?;
        let last_ratchet_key = pickle
            .last_ratchet_key
            .map(|k| parse_curve25519("last_ratchet_key", &k))
            .transpose()
            .map_err(|e| PickleError::Malformed(e.to_string()))?;
        Ok(Self {
            session: Session::from_pickle(session),
            origin: pickle.origin,
            last_ratchet_key,
            key_version: pickle.key_version,
        })
    }
}

impl fmt::Debug for Conversation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            session: _,
            origin,
            last_ratchet_key: _,
            key_version,
        } = self;
        f.debug_struct("Conversation")
            .field("session_id", &self.session_id())
            .field("origin", origin)
            .field("key_version", key_version)
            .finish_non_exhaustive()
    }
}

/// Stored form of a [`Conversation`]: the Olm session encrypted by
/// vodozemac, and public bookkeeping.
#[derive(Serialize, Deserialize)]
pub(crate) struct ConversationPickle {
    v: u32,
    /// vodozemac's encrypted session pickle.
    session: String,
    origin: Origin,
    /// Base64 public ratchet key of the last message sent.
    last_ratchet_key: Option<String>,
    key_version: u64,
}

impl Versioned for ConversationPickle {
    fn version(&self) -> u32 {
        self.v
    }
}

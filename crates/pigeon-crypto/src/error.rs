//! Error types, one per operation.
//!
//! Why several small enums instead of one: a caller of [`Conversation::decrypt`]
//! should not have to handle "no session with that peer" or "one-time key
//! already used", because that call cannot produce them. Each enum lists only
//! what its operation can return (STYLE.md practice 8). vodozemac's own errors
//! are mapped into variants a caller can act on (drop a duplicate, ask the
//! peer to start a new session, re-key the store); the rest become strings.
//!
//! No variant carries secret material: keys in messages are public keys.
//!
//! [`Conversation::decrypt`]: crate::Conversation::decrypt

use thiserror::Error;

/// A public key bundle, a one-time key or a signature could not be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// A key or signature field is not valid base64 or not a valid key.
    #[error("malformed {field}: {reason}")]
    Malformed {
        /// Which field was malformed (`curve25519`, `ed25519`, `signature`,
        /// `public_key`).
        field: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// The signature does not verify against the signing key: the bundle or
    /// the key was altered after it was signed, or signed by another device.
    #[error("signature does not verify against the device's ed25519 key")]
    BadSignature,
}

/// An Olm session could not be created (outbound from a claimed key, or
/// inbound from a pre-key message).
#[derive(Debug, Error)]
pub enum SessionError {
    /// The remote device's keys or the claimed one-time key did not verify.
    #[error("remote keys rejected: {0}")]
    Key(#[from] KeyError),
    /// An inbound session can only be created from a pre-key message.
    #[error("an inbound session needs a pre-key message, got a normal message")]
    NotPreKey,
    /// The ciphertext could not be decoded.
    #[error("malformed pre-key message: {0}")]
    Malformed(String),
    /// The pre-key message names a one-time key this device does not hold:
    /// already used by an earlier session, or never ours.
    #[error("the pre-key message uses an unknown or already used one-time key")]
    UnknownOneTimeKey,
    /// The identity key inside the pre-key message is not the sender's.
    #[error("the pre-key message was not sent by the expected identity key")]
    IdentityMismatch,
    /// The pre-key message did not decrypt, so no session was created.
    #[error("the pre-key message did not decrypt: {0}")]
    Decrypt(#[source] DecryptError),
    /// Any other refusal by vodozemac (insecure key exchange, unsupported
    /// session version).
    #[error("session creation rejected: {0}")]
    Rejected(String),
}

/// A plaintext could not be encrypted.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EncryptError {
    /// The key exchange behind this session was not contributory; the
    /// session must be abandoned.
    #[error("the session's key exchange is insecure (non-contributory key)")]
    InsecureKey,
}

/// A ciphertext could not be decrypted by one session.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecryptError {
    /// Not valid base64, not a valid Olm message, or an unknown message type.
    #[error("malformed ciphertext: {0}")]
    Malformed(String),
    /// The message authentication failed: tampered in transit, or encrypted
    /// by a different session.
    #[error("message authentication failed")]
    Authentication,
    /// The message key for this position is gone: usually a duplicate
    /// delivery of a message that was already decrypted.
    #[error("no message key for chain index {chain_index} (already decrypted?)")]
    MissingMessageKey {
        /// Position of the message in its sending chain.
        chain_index: u64,
    },
    /// The message is too far ahead in its chain to derive its key.
    #[error("message gap too big: index {got}, at most {max} skipped keys")]
    TooBigMessageGap {
        /// Chain index the message claims.
        got: u64,
        /// How far ahead vodozemac is willing to ratchet.
        max: u64,
    },
    /// The sender's new ratchet key gave a non-contributory exchange.
    #[error("the message carries an insecure ratchet key")]
    InsecureKey,
}

/// A pickle could not be restored.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PickleError {
    /// Authentication of the encrypted pickle failed: the pickle key is wrong,
    /// or the pickle was altered.
    #[error("wrong pickle key, or the pickle was altered")]
    WrongKeyOrTampered,
    /// Not base64, not the expected JSON, or an unknown pickle version.
    #[error("malformed pickle: {0}")]
    Malformed(String),
}

/// [`SessionStore::encrypt`](crate::SessionStore::encrypt) failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The store has no session with this peer device; claim a one-time key
    /// and create one with [`Device::outbound`](crate::Device::outbound).
    #[error("no session with this peer device")]
    NoSession,
    /// The session refused to encrypt.
    #[error(transparent)]
    Encrypt(#[from] EncryptError),
}

/// [`SessionStore::decrypt`](crate::SessionStore::decrypt) failed.
#[derive(Debug, Error)]
pub enum StoreDecryptError {
    /// A normal message that none of the sessions with this peer device
    /// decrypts.
    #[error("none of the {tried} sessions with this peer device decrypts the message")]
    NoMatchingSession {
        /// How many sessions were tried.
        tried: usize,
    },
    /// The session the message belongs to refused it (duplicate, tampered…).
    #[error(transparent)]
    Decrypt(#[from] DecryptError),
    /// A pre-key message for a new session, and that session could not be
    /// created.
    #[error(transparent)]
    NewSession(#[from] SessionError),
}

impl From<vodozemac::olm::DecryptionError> for DecryptError {
    fn from(e: vodozemac::olm::DecryptionError) -> Self {
        use vodozemac::olm::DecryptionError as E;
        match e {
            E::InvalidMAC(_) | E::InvalidMACLength(..) | E::InvalidPadding(_) => {
                Self::Authentication
            }
            E::MissingMessageKey(chain_index) => Self::MissingMessageKey { chain_index },
            E::TooBigMessageGap(got, max) => Self::TooBigMessageGap { got, max },
            E::NonContributoryKey => Self::InsecureKey,
        }
    }
}

impl From<vodozemac::olm::EncryptionError> for EncryptError {
    fn from(e: vodozemac::olm::EncryptionError) -> Self {
        match e {
            vodozemac::olm::EncryptionError::NonContributoryKey => Self::InsecureKey,
        }
    }
}

impl From<vodozemac::olm::SessionCreationError> for SessionError {
    fn from(e: vodozemac::olm::SessionCreationError) -> Self {
        use vodozemac::olm::SessionCreationError as E;
        match e {
            E::MissingOneTimeKey(_) => Self::UnknownOneTimeKey,
            E::MismatchedIdentityKey(..) => Self::IdentityMismatch,
            E::Decryption(d) => Self::Decrypt(d.into()),
            other => Self::Rejected(other.to_string()),
        }
    }
}

impl From<vodozemac::PickleError> for PickleError {
    fn from(e: vodozemac::PickleError) -> Self {
        match e {
            vodozemac::PickleError::Decryption(_) => Self::WrongKeyOrTampered,
            other => Self::Malformed(other.to_string()),
        }
    }
}

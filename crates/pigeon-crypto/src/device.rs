//! A device's Olm account: its identity, its one-time keys, and the sessions
//! it starts and accepts.
//!
//! Why here: creating sessions needs the account's private keys, so the
//! account is the only thing that can do it. [`Device::outbound`] refuses
//! keys whose signatures do not verify, so a server that swaps keys in its
//! directory gets an error, not a session.

use std::fmt;

use vodozemac::olm::{Account, AccountPickle, OlmMessage, PreKeyMessage, SessionConfig};

use crate::{
    ciphertext::{Ciphertext, MessageType},
    conversation::{Conversation, Origin},
    error::{PickleError, SessionError},
    keys::{DeviceKeys, OneTimeKey, SignedOneTimeKey, parse_curve25519},
    pickle::PickleKey,
};

/// One device's Olm account.
///
/// It holds the long-term identity keys and the private halves of the
/// one-time and fallback keys it has published. How many one-time keys the
/// server still holds is the server's bookkeeping; the device just generates
/// more when told. vodozemac keeps at most 100 private one-time keys and
/// drops the oldest beyond that, so publish at most 50 at a time.
pub struct Device {
    account: Account,
}

impl Device {
    /// A device with fresh random identity keys.
    pub fn new() -> Self {
        Self {
            account: Account::new(),
        }
    }

    /// The signed public identity keys, for upload to the key directory.
    pub fn keys(&self) -> DeviceKeys {
        let identity = self.account.identity_keys();
        let curve25519 = identity.curve25519.to_base64();
        let ed25519 = identity.ed25519.to_base64();
        let signature = self
            .account
            .sign(DeviceKeys::canonical_json(&curve25519, &ed25519))
            .to_base64();
        DeviceKeys {
            curve25519,
            ed25519,
            signature,
        }
    }

    /// This device's Curve25519 identity key (base64), which recipients pass
    /// to [`Device::inbound`].
    pub fn identity_key(&self) -> String {
        self.account.curve25519_key().to_base64()
    }

    /// Generate `count` one-time keys, sign them and mark them published.
    ///
    /// Upload the result; if the upload fails, upload the same keys again
    /// rather than generating new ones. Sorted by key id.
    pub fn generate_one_time_keys(&mut self, count: usize) -> Vec<SignedOneTimeKey> {
        self.account.generate_one_time_keys(count);
        let mut keys: Vec<_> = self.account.one_time_keys().into_iter().collect();
        keys.sort_unstable_by_key(|(id, _)| *id);
        self.account.mark_keys_as_published();
        keys.into_iter()
            .map(|(id, key)| self.sign_key(id.to_base64(), key.to_base64(), false))
            .collect()
    }

    /// Generate a new fallback key, sign it and mark it published.
    ///
    /// The previous fallback key stays usable until the next call, so
    /// pre-key messages already in flight still create sessions. Always
    /// `Some` with vodozemac 0.11 (it has just stored an unpublished key);
    /// `None` would mean there is nothing to upload.
    pub fn generate_fallback_key(&mut self) -> Option<SignedOneTimeKey> {
        self.account.generate_fallback_key();
        let fallback = self.account.fallback_key();
        self.account.mark_keys_as_published();
        fallback
            .into_iter()
            .next()
            .map(|(id, key)| self.sign_key(id.to_base64(), key.to_base64(), true))
    }

    fn sign_key(&self, key_id: String, public_key: String, fallback: bool) -> SignedOneTimeKey {
        let key = OneTimeKey { key_id, public_key };
        let signature = self
            .account
            .sign(SignedOneTimeKey::canonical_json(&key, fallback))
            .to_base64();
        SignedOneTimeKey {
            key,
            fallback,
            signature,
        }
    }

    /// Start a session with a remote device, from its directory entry and
    /// the one-time (or fallback) key claimed for it.
    ///
    /// Both signatures are checked first. The first messages of the session
    /// are pre-key messages.
    pub fn outbound(
        &self,
        remote: &DeviceKeys,
        claimed: &SignedOneTimeKey,
    ) -> Result<Conversation, SessionError> {
        let (identity_key, signing_key) = remote.verified()?;
        let one_time_key = claimed.verified_with(&signing_key)?;
        let session = self.account.create_outbound_session(
            SessionConfig::version_1(),
            identity_key,
            one_time_key,
        )?;
        let origin = if claimed.fallback {
            Origin::FallbackKey
        } else {
            Origin::OneTimeKey
        };
        Ok(Conversation::new(session, origin))
    }

    /// Accept a session from a pre-key message sent by the device whose
    /// Curve25519 identity key is `sender_identity_key` (base64, as in its
    /// [`DeviceKeys::curve25519`]). Returns the session and the plaintext.
    ///
    /// A one-time key is consumed by the first session made from it, so a
    /// second inbound session from the same key fails with
    /// [`SessionError::UnknownOneTimeKey`]; the fallback key is not consumed.
    pub fn inbound(
        &mut self,
        sender_identity_key: &str,
        ciphertext: &Ciphertext,
    ) -> Result<(Conversation, Vec<u8>), SessionError> {
        if ciphertext.message_type != MessageType::PreKey {
            return Err(SessionError::NotPreKey);
        }
        match ciphertext.to_olm() {
            Ok(OlmMessage::PreKey(message)) => self.inbound_message(sender_identity_key, &message),
            Ok(OlmMessage::Normal(_)) => Err(SessionError::NotPreKey),
            Err(e) => Err(SessionError::Malformed(e.to_string())),
        }
    }

    pub(crate) fn inbound_message(
        &mut self,
        sender_identity_key: &str,
        message: &PreKeyMessage,
    ) -> Result<(Conversation, Vec<u8>), SessionError> {
        let sender = parse_curve25519("curve25519", sender_identity_key)?;
        let created =
            self.account
                .create_inbound_session(SessionConfig::version_1(), sender, message)?;
        Ok((
            Conversation::new(created.session, Origin::Inbound),
            created.plaintext,
        ))
    }

    /// Encrypt the account for storage (vodozemac's encrypted pickle).
    pub fn pickle(&self, key: &PickleKey) -> String {
        self.account.pickle().encrypt(key.bytes())
    }

    /// Restore a device from [`Device::pickle`].
    pub fn from_pickle(pickle: &str, key: &PickleKey) -> Result<Self, PickleError> {
        let account = AccountPickle::from_encrypted(pickle, key.bytes())?;
        Ok(Self {
            account: Account::from_pickle(account),
        })
    }
}

impl Default for Device {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let identity = self.account.identity_keys();
        f.debug_struct("Device")
            .field("curve25519", &identity.curve25519.to_base64())
            .field("ed25519", &identity.ed25519.to_base64())
            .finish_non_exhaustive()
    }
}

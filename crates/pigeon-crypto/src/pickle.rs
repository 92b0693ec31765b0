//! The pickle key, and how wrapper pickles are laid out.
//!
//! Why: a device's account and its sessions must survive restarts, and at rest
//! they must be encrypted. The encryption is vodozemac's own pickle format
//! (AES-256-CBC + HMAC-SHA-256 keyed from a 32-byte pickle key); this crate
//! never encrypts anything itself.
//!
//! Layout: a [`Device`](crate::Device) pickle is exactly vodozemac's encrypted
//! account pickle. A [`Conversation`](crate::Conversation) or
//! [`SessionStore`](crate::SessionStore) pickle is a small versioned JSON
//! document whose secret part, each Olm session, is a vodozemac-encrypted
//! session pickle; the rest is public bookkeeping (the last sending ratchet
//! *public* key, the key-version counter, the peer's user and device ids).
//! Consequences, on purpose: the peer ids of a store are readable by whoever
//! reads the client's storage, and a store with no sessions restores under any
//! key, because it holds no secret to check the key against.

use std::fmt;

use serde::{Serialize, de::DeserializeOwned};
use zeroize::Zeroize;

use crate::error::PickleError;

/// Current version of the JSON wrapper pickles.
pub(crate) const PICKLE_VERSION: u32 = 1;

/// The 32-byte key that encrypts pickles.
///
/// It has no `Debug` that prints the bytes and is wiped from memory on drop.
/// Where it comes from (an OS keychain, a key derived from a passphrase) is
/// the caller's business.
pub struct PickleKey(Box<[u8; 32]>);

impl PickleKey {
    /// Wrap 32 key bytes. The caller should wipe its own copy.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(Box::new(bytes))
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Drop for PickleKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for PickleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PickleKey(<redacted>)")
    }
}

/// Serialize a wrapper pickle (which holds no plaintext secret).
pub(crate) fn to_json<T: Serialize>(value: &T) -> String {
    // Serializing plain structs of strings, integers and options into a
    // String cannot fail; fall back to an empty object rather than panic.
    serde_json::to_string(value).unwrap_or_else(|_| String::from("{}"))
}

/// Parse a wrapper pickle and check its version.
pub(crate) fn from_json<T: DeserializeOwned + Versioned>(pickle: &str) -> Result<T, PickleError> {
    let value: T =
        serde_json::from_str(pickle).map_err(|e| PickleError::Malformed(e.to_string()))?;
    if value.version() != PICKLE_VERSION {
        return Err(PickleError::Malformed(format!(
            "unsupported pickle version {}",
            value.version()
        )));
    }
    Ok(value)
}

/// A wrapper pickle that carries a format version.
pub(crate) trait Versioned {
    fn version(&self) -> u32;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_key() {
        let key = PickleKey::new([7; 32]);
        assert_eq!(format!("{key:?}"), "PickleKey(<redacted>)");
    }
}

//! Device tokens: made here, stored only as their SHA-256.
//!
//! The same scheme as the SQLite store (256 random bits as 64 hex digits; the database keeps
//! SHA-256 of the text), so a leaked database does not leak tokens. `pigeon-store` keeps its
//! own generator crate-private, so the few lines are repeated rather than widening its API.

use pigeon_store::{DeviceToken, StoreError};
use sha2::{Digest, Sha256};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A fresh random token.
pub(crate) fn generate() -> Result<DeviceToken, StoreError> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw)
        .map_err(|e| StoreError::Backend(format!("no randomness for a token: {e}")))?;
    let mut hex = String::with_capacity(64);
    for b in raw {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    Ok(DeviceToken::from_string(hex))
}

/// What the database keeps and looks tokens up by.
pub(crate) fn hash(token: &DeviceToken) -> Vec<u8> {
    Sha256::digest(token.expose().as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex_hashed_with_sha256() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(hash(&a).len(), 32);
        assert_eq!(hash(&a), hash(&DeviceToken::from_string(a.expose())));
        // SHA-256("abc"), so the stored hashes match the SQLite store's for the same token.
        assert_eq!(
            hash(&DeviceToken::from_string("abc"))[..4],
            [0xba, 0x78, 0x16, 0xbf]
        );
    }
}

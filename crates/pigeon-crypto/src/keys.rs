//! Public key material a device publishes, and its signatures.
//!
//! Why: the server stores and hands out keys, and the server must not be able
//! to substitute its own. Every published key is therefore signed with the
//! device's long-term ed25519 key, and a claimer checks the signature before
//! it encrypts anything. Trusting the ed25519 key itself (comparing
//! fingerprints out of band) is the application's job.
//!
//! The signed bytes are a canonical JSON object: compact, keys sorted, each
//! object tagged with a `domain` so that a signature made for one kind of
//! object can never be replayed as another. They are produced from private
//! structs whose fields are declared in sorted order, so the output does not
//! depend on `serde_json` map features enabled elsewhere in the build.
//! Tests pin the exact bytes.

use serde::{Deserialize, Serialize};
use vodozemac::{Curve25519PublicKey, Ed25519PublicKey, Ed25519Signature};

use crate::error::KeyError;

/// Domain tag signed into a device-key bundle.
const DEVICE_KEYS_DOMAIN: &str = "pigeon.device_keys.v1";
/// Domain tag signed into a one-time or fallback key.
const ONE_TIME_KEY_DOMAIN: &str = "pigeon.one_time_key.v1";

/// A device's long-term public keys, signed by its own ed25519 key.
///
/// This is what a device uploads to the server's key directory and what a
/// sender fetches before creating a session. All keys are unpadded base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceKeys {
    /// Curve25519 identity key: the Diffie-Hellman half of the identity,
    /// used in the Olm key exchange.
    pub curve25519: String,
    /// Ed25519 key: the signing half of the identity (the "fingerprint").
    pub ed25519: String,
    /// Ed25519 signature over the canonical JSON of the two keys.
    pub signature: String,
}

#[derive(Serialize)]
struct DeviceKeysPayload<'a> {
    curve25519: &'a str,
    domain: &'static str,
    ed25519: &'a str,
}

impl DeviceKeys {
    /// The bytes the signature covers.
    pub(crate) fn canonical_json(curve25519: &str, ed25519: &str) -> String {
        canonical(&DeviceKeysPayload {
            curve25519,
            domain: DEVICE_KEYS_DOMAIN,
            ed25519,
        })
    }

    /// Check that the keys are well formed and that the signature was made
    /// by [`DeviceKeys::ed25519`] over these exact keys.
    pub fn verify(&self) -> Result<(), KeyError> {
        self.verified().map(|_| ())
    }

    /// Verify and return the parsed keys.
    pub(crate) fn verified(&self) -> Result<(Curve25519PublicKey, Ed25519PublicKey), KeyError> {
        let curve = parse_curve25519("curve25519", &self.curve25519)?;
        let ed = parse_ed25519(&self.ed25519)?;
        verify_signature(
            &ed,
            &Self::canonical_json(&self.curve25519, &self.ed25519),
            &self.signature,
        )?;
        Ok((curve, ed))
    }
}

/// A Curve25519 one-time (or fallback) public key with the id the device
/// gave it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OneTimeKey {
    /// The device's id for this key, unique per device (base64).
    pub key_id: String,
    /// The Curve25519 public key (unpadded base64).
    pub public_key: String,
}

/// A one-time key or fallback key, signed by the device that owns it.
///
/// The server stores these as they come and hands exactly one to each
/// claimer: a one-time key at most once, the fallback key when no one-time
/// key is left. `fallback` is signed too, so the server cannot present a
/// one-time key as a fallback key or the other way round.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignedOneTimeKey {
    /// The key and its id.
    #[serde(flatten)]
    pub key: OneTimeKey,
    /// `true` for the device's fallback key, which may be claimed many times.
    #[serde(default)]
    pub fallback: bool,
    /// Ed25519 signature of the owning device over the canonical JSON of
    /// `key_id`, `public_key` and `fallback`.
    pub signature: String,
}

#[derive(Serialize)]
struct OneTimeKeyPayload<'a> {
    domain: &'static str,
    fallback: bool,
    key_id: &'a str,
    public_key: &'a str,
}

impl SignedOneTimeKey {
    /// The bytes the signature covers.
    pub(crate) fn canonical_json(key: &OneTimeKey, fallback: bool) -> String {
        canonical(&OneTimeKeyPayload {
            domain: ONE_TIME_KEY_DOMAIN,
            fallback,
            key_id: &key.key_id,
            public_key: &key.public_key,
        })
    }

    /// Check that the key is well formed and was signed by the device whose
    /// (already verified) keys are `owner`.
    pub fn verify(&self, owner: &DeviceKeys) -> Result<(), KeyError> {
        let ed = parse_ed25519(&owner.ed25519)?;
        self.verified_with(&ed).map(|_| ())
    }

    pub(crate) fn verified_with(
        &self,
        owner: &Ed25519PublicKey,
    ) -> Result<Curve25519PublicKey, KeyError> {
        let key = parse_curve25519("public_key", &self.key.public_key)?;
        verify_signature(
            owner,
            &Self::canonical_json(&self.key, self.fallback),
            &self.signature,
        )?;
        Ok(key)
    }
}

fn canonical<T: Serialize>(payload: &T) -> String {
    // A struct of strings and a bool always serializes; an empty string would
    // simply never verify.
    serde_json::to_string(payload).unwrap_or_default()
}

pub(crate) fn parse_curve25519(
    field: &'static str,
    value: &str,
) -> Result<Curve25519PublicKey, KeyError> {
    Curve25519PublicKey::from_base64(value).map_err(|e| KeyError::Malformed {
        field,
        reason: e.to_string(),
    })
}

fn parse_ed25519(value: &str) -> Result<Ed25519PublicKey, KeyError> {
    Ed25519PublicKey::from_base64(value).map_err(|e| KeyError::Malformed {
        field: "ed25519",
        reason: e.to_string(),
    })
}

fn verify_signature(
    key: &Ed25519PublicKey,
    message: &str,
    signature: &str,
) -> Result<(), KeyError> {
    let signature = Ed25519Signature::from_base64(signature).map_err(|e| KeyError::Malformed {
        field: "signature",
        reason: e.to_string(),
    })?;
    key.verify(message.as_bytes(), &signature)
        .map_err(|_| KeyError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Device;

    #[test]
    fn canonical_json_is_pinned() {
        assert_eq!(
            DeviceKeys::canonical_json("C", "E"),
            r#"{"curve25519":"C","domain":"pigeon.device_keys.v1","ed25519":"E"}"#
        );
        let key = OneTimeKey {
            key_id: "AAAAAAAAAAE".into(),
            public_key: "P".into(),
        };
        assert_eq!(
            SignedOneTimeKey::canonical_json(&key, true),
            r#"{"domain":"pigeon.one_time_key.v1","fallback":true,"key_id":"AAAAAAAAAAE","public_key":"P"}"#
        );
    }

    #[test]
    fn device_keys_verify() {
        let device = Device::new();
        let keys = device.keys();
        assert_eq!(keys.verify(), Ok(()));
        let json = serde_json::to_string(&keys).unwrap();
        let back: DeviceKeys = serde_json::from_str(&json).unwrap();
        assert_eq!(back.verify(), Ok(()));
    }

    #[test]
    fn swapped_curve_key_is_rejected() {
        let victim = Device::new().keys();
        let attacker = Device::new().keys();
        let forged = DeviceKeys {
            curve25519: attacker.curve25519.clone(),
            ..victim.clone()
        };
        assert_eq!(forged.verify(), Err(KeyError::BadSignature));
        // Swapping the signing key (with its own signature) does not help either:
        // the signature is over the other curve key.
        let forged = DeviceKeys {
            ed25519: attacker.ed25519,
            ..victim
        };
        assert_eq!(forged.verify(), Err(KeyError::BadSignature));
    }

    #[test]
    fn malformed_key_is_a_typed_error() {
        let mut keys = Device::new().keys();
        keys.curve25519 = "not base64!".into();
        assert!(matches!(
            keys.verify(),
            Err(KeyError::Malformed {
                field: "curve25519",
                ..
            })
        ));
    }

    #[test]
    fn one_time_keys_verify_against_their_owner_only() {
        let mut device = Device::new();
        let other = Device::new();
        let keys = device.generate_one_time_keys(3);
        assert_eq!(keys.len(), 3);
        for key in &keys {
            assert!(!key.fallback);
            assert_eq!(key.verify(&device.keys()), Ok(()));
            assert_eq!(key.verify(&other.keys()), Err(KeyError::BadSignature));
        }
        let mut swapped = keys[0].clone();
        swapped.key.public_key = keys[1].key.public_key.clone();
        assert_eq!(swapped.verify(&device.keys()), Err(KeyError::BadSignature));
        let mut relabelled = keys[0].clone();
        relabelled.fallback = true;
        assert_eq!(
            relabelled.verify(&device.keys()),
            Err(KeyError::BadSignature)
        );
    }

    #[test]
    fn signed_one_time_key_wire_shape() {
        let mut device = Device::new();
        let key = device.generate_fallback_key().unwrap();
        let json: serde_json::Value = serde_json::to_value(&key).unwrap();
        let object = json.as_object().unwrap();
        let mut fields: Vec<&str> = object.keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["fallback", "key_id", "public_key", "signature"]);
        assert_eq!(object["fallback"], serde_json::Value::Bool(true));
        let back: SignedOneTimeKey = serde_json::from_value(json).unwrap();
        assert_eq!(back, key);
    }
}

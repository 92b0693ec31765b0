//! The Olm key directory.
//!
//! A device uploads its identity keys (signed), one-time keys and a fallback key
//! (`PUT /v1/keys`); the answer and every WebSocket `keys_low` frame tell it how many one-time
//! keys remain, so it tops them up below a threshold. A sender claims one key per target device
//! (`POST /v1/keys/claim`): each one-time key is handed out once; when none is left, the
//! fallback key. The JSON shapes match `pigeon-crypto`'s `DeviceKeys` and `SignedOneTimeKey`,
//! whose signatures the receiving client verifies — the server only stores them.

use serde::{Deserialize, Serialize};

use crate::{DeviceId, UserId};

/// A device's identity keys and the ed25519 signature over them (all unpadded base64).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityKeys {
    /// Curve25519 identity key.
    pub curve25519: String,
    /// Ed25519 signing key.
    pub ed25519: String,
    /// Signature by `ed25519` over the canonical form of both keys.
    pub signature: String,
}

/// A signed one-time or fallback key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedKey {
    /// The key's id, unique per device.
    pub key_id: String,
    /// Curve25519 public key.
    pub public_key: String,
    /// True for the fallback key.
    pub fallback: bool,
    /// Signature by the device's ed25519 key.
    pub signature: String,
}

/// `PUT /v1/keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadKeysRequest {
    /// Identity keys, on the first upload (later uploads may repeat the same ones).
    #[serde(default)]
    pub identity: Option<IdentityKeys>,
    /// New one-time keys (`fallback: false`).
    #[serde(default)]
    pub one_time_keys: Vec<SignedKey>,
    /// A new fallback key (`fallback: true`), replacing the previous one.
    #[serde(default)]
    pub fallback_key: Option<SignedKey>,
}

/// How many unclaimed one-time keys a device has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCount {
    /// Unclaimed one-time keys.
    pub one_time_key_count: u64,
}

/// A device of some user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRef {
    /// Its user.
    pub user_id: UserId,
    /// The device.
    pub device_id: DeviceId,
}

/// `POST /v1/keys/claim`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// One key is claimed for each.
    pub devices: Vec<DeviceRef>,
}

/// A claimed key and whose it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedKey {
    /// The device it belongs to.
    pub device: DeviceRef,
    /// The device's identity keys, to verify `key` and start the session with.
    pub identity: IdentityKeys,
    /// The one-time key, or the fallback key when none was left.
    pub key: SignedKey,
}

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimResponse {
    /// One per device that had keys.
    pub keys: Vec<ClaimedKey>,
    /// Devices that have uploaded no keys yet.
    #[serde(default)]
    pub missing: Vec<DeviceRef>,
}

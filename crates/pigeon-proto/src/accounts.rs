//! Accounts and devices.
//!
//! `POST /v1/accounts` registers a user with a first device; `POST /v1/devices` adds a device to
//! the caller's user; `DELETE /v1/devices/{id}` removes one; `GET /v1/users/{user}/devices`
//! lists a user's devices with their identity keys (what a sender encrypts to);
//! `GET /v1/users?username=NAME` finds a user by name.

use serde::{Deserialize, Serialize};

use crate::{DeviceId, IdentityKeys, UserId, Username};

/// `POST /v1/accounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Unique on the server.
    pub username: Username,
    /// A name the user gives this device ("laptop").
    pub device_name: String,
}

/// `POST /v1/devices`: a new device for the authenticated user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddDeviceRequest {
    /// A name the user gives this device.
    pub device_name: String,
}

/// The answer to both: the device's credentials. The token is shown once; the server keeps
/// only its hash.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    /// The user.
    pub user_id: UserId,
    /// The new device.
    pub device_id: DeviceId,
    /// Bearer token of the device (256 random bits, base64url).
    pub token: String,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("user_id", &self.user_id)
            .field("device_id", &self.device_id)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// One device as others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// The device.
    pub device_id: DeviceId,
    /// Its name.
    pub name: String,
    /// Its identity keys, once uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<IdentityKeys>,
}

/// `GET /v1/users/{user_id}/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceList {
    /// The user.
    pub user_id: UserId,
    /// Its current devices.
    pub devices: Vec<DeviceInfo>,
}

/// `GET /v1/users?username=NAME`: who has this username.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserLookup {
    /// The user.
    pub user_id: UserId,
    /// The name asked for.
    pub username: Username,
}

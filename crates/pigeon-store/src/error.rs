//! Errors, shaped so the server can answer with a precise status without parsing strings.
//!
//! [`StoreError`] is what most operations return; each operation's docs on [`crate::Store`]
//! say which variants it can produce. `send` has its own [`SendError`] because only it can
//! answer "your device list is stale" (409 with the current lists, so the client can re-encrypt
//! without another round trip). Backend failures are strings: the caller cannot act on a SQLite
//! error code, only log it and answer 500.

use thiserror::Error;

use crate::types::{DeviceId, UserId};

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    /// The user, device or message named does not exist (or the device was removed). → 404.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// The operation conflicts with existing state, e.g. a taken username. → 409.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The caller may not do this, e.g. record delivery of a message not addressed to it. → 403.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// The request is malformed, e.g. acking a seq that was never assigned. → 400.
    #[error("invalid: {0}")]
    Invalid(&'static str),
    /// The storage engine failed, or the store is closed. → 500.
    #[error("storage backend: {0}")]
    Backend(String),
}

/// Why a send was refused. Nothing is stored in any of these cases.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SendError {
    /// The recipient user does not exist. → 404.
    #[error("unknown recipient")]
    UnknownRecipient,
    /// The sending device does not exist or was removed. → 401/403.
    #[error("unknown sender device")]
    UnknownSender,
    /// The copies do not target exactly the recipient's devices plus the sender's other
    /// devices. → 409 with the current lists.
    #[error("stale device list")]
    StaleDevices(StaleDevices),
    /// The request is malformed (empty `client_msg_id`, duplicate target, no target). → 400.
    #[error("invalid send: {0}")]
    Invalid(&'static str),
    /// Anything else.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The device lists a sender must encrypt for, returned when its list was stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleDevices {
    /// The recipient's current devices, then the sender's own other current devices.
    pub current: Vec<UserDevices>,
}

/// One user's current devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDevices {
    /// The user.
    pub user_id: UserId,
    /// Their current devices, sorted. For the sender, without the sending device.
    pub devices: Vec<DeviceId>,
}

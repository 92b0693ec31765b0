//! The size limits the server enforces, with their defaults. The server may be configured with
//! other values; it answers 413 `too_large` past them.

use serde::{Deserialize, Serialize};

/// Limits of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest ciphertext body (base64 characters). Default 64 KiB.
    pub max_ciphertext_bytes: usize,
    /// Most target devices in one send (recipient's plus the sender's other devices).
    /// Default 64.
    pub max_targets: usize,
    /// Largest HTTP request body. Default 8 MiB.
    pub max_body_bytes: usize,
    /// Largest WebSocket frame from a client. Default 16 KiB: acks, control frames and the
    /// `send` of a message of a few KiB; larger sends go over HTTP.
    pub max_frame_bytes: usize,
    /// Most one-time keys in one upload. Default 100.
    pub max_keys_per_upload: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_ciphertext_bytes: 64 << 10,
            max_targets: 64,
            max_body_bytes: 8 << 20,
            max_frame_bytes: 16 << 10,
            max_keys_per_upload: 100,
        }
    }
}

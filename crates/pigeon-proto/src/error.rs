//! The error body. Every non-2xx answer carries one, so clients branch on `code`, never on text.

use serde::{Deserialize, Serialize};

/// A stable, machine-readable reason. New codes may be added; clients treat unknown ones as
/// their HTTP status says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not valid JSON or does not match the schema (400).
    Malformed,
    /// A field has a value out of range or of the wrong form (400 / 422).
    Invalid,
    /// No or bad token (401).
    Unauthorized,
    /// Authenticated, but not allowed to do this (403).
    Forbidden,
    /// The user, device or message does not exist (404).
    NotFound,
    /// The username is taken (409).
    Conflict,
    /// The set of target devices is not the current one; `details` holds the current devices
    /// (409). Refresh keys and devices, then retry with the same `client_msg_id`.
    StaleDevices,
    /// The body or a ciphertext is over its limit (413).
    TooLarge,
    /// Too many requests; wait as `Retry-After` says (429).
    RateLimited,
    /// The server failed; retrying later may work (500 / 503).
    Internal,
}

/// The JSON body of an error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The reason, for programs.
    pub code: ErrorCode,
    /// The reason, for people.
    pub message: String,
    /// Structured data some codes carry (see [`ErrorCode::StaleDevices`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl ErrorBody {
    /// An error body without details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
        }
    }
}

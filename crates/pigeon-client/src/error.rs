//! [`ClientError`]: what a client operation can fail with.

use pigeon_proto::ErrorBody;

/// A failed client operation.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error (its code says which).
    #[error("server answered {status}: {} ({:?})", body.message, body.code)]
    Server {
        /// HTTP status.
        status: u16,
        /// The server's error body.
        body: ErrorBody,
    },
    /// The server could not be reached, or answered with something that is not the API.
    #[error("transport: {0}")]
    Transport(String),
    /// Encryption, decryption or key verification failed.
    #[error("end-to-end encryption: {0}")]
    Crypto(String),
    /// The server broke the protocol (an unexpected frame, a malformed answer).
    #[error("protocol: {0}")]
    Protocol(String),
}

impl From<reqwest::Error> for ClientError {
    fn from(err: reqwest::Error) -> Self {
        Self::Transport(err.to_string())
    }
}

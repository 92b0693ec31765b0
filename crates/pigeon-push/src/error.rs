//! Error types, one per operation.
//!
//! A caller that registers a subscription can only get a [`SubscriptionError`]; one that loads
//! the VAPID key file can only get a [`VapidKeyError`]; one that sends can get a [`PushError`].
//! Keeping them apart means nobody has to match variants that cannot happen (STYLE.md #8).
//! Messages never include endpoint URLs, keys or secrets: a push endpoint URL is itself a
//! capability (anyone holding it can push to the device).

use std::fmt;
use std::path::PathBuf;

/// Why a push subscription was refused at construction (or deserialization).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    /// The endpoint or webhook URL does not parse as an absolute URL.
    #[error("url does not parse as an absolute URL")]
    InvalidUrl,
    /// The URL's scheme is neither `http` nor `https`.
    #[error("url scheme must be http or https, got {scheme:?}")]
    UnsupportedScheme {
        /// The scheme that was given.
        scheme: String,
    },
    /// The URL has no host.
    #[error("url has no host")]
    MissingHost,
    /// `p256dh` is not base64url.
    #[error("p256dh is not base64url")]
    P256dhEncoding,
    /// `p256dh` decodes to the wrong number of bytes (an uncompressed P-256 point is 65).
    #[error("p256dh must decode to 65 bytes, got {len}")]
    P256dhLength {
        /// Decoded length.
        len: usize,
    },
    /// `p256dh` has the right length but is not a point on P-256.
    #[error("p256dh is not a valid P-256 public key")]
    P256dhPoint,
    /// `auth` is not base64url.
    #[error("auth is not base64url")]
    AuthEncoding,
    /// `auth` decodes to the wrong number of bytes (RFC 8291 wants 16).
    #[error("auth must decode to 16 bytes, got {len}")]
    AuthLength {
        /// Decoded length.
        len: usize,
    },
    /// A webhook secret was given but is empty: it would sign with a known key.
    #[error("webhook secret is empty")]
    EmptySecret,
}

/// Why the VAPID key file could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum VapidKeyError {
    /// Reading, creating or writing the key file failed.
    #[error("vapid key file {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The key file is readable or writable by group or others; fix with `chmod 600`.
    #[error(
        "vapid key file {path} has mode {mode:o}; it must not be accessible to group or others (chmod 600)"
    )]
    InsecurePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file does not hold a base64url P-256 private key.
    #[error("vapid key file {path} does not hold a base64url P-256 private key")]
    Malformed {
        /// The key file.
        path: PathBuf,
    },
    /// The operating system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Random(String),
}

/// The last thing that went wrong before a send gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The push service or webhook answered with this retryable status (429 or 5xx).
    Status(u16),
    /// No answer within the request timeout.
    Timeout,
    /// The connection failed (DNS, TCP, TLS, or the connection dropped).
    Connect(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(status) => write!(f, "HTTP status {status}"),
            Self::Timeout => f.write_str("request timed out"),
            Self::Connect(cause) => write!(f, "connection failed: {cause}"),
        }
    }
}

/// Why [`Pusher::send`](crate::Pusher::send) did not deliver.
///
/// `Gone` is not an error: it is [`PushOutcome::Gone`](crate::PushOutcome::Gone).
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The subscription was built by hand with invalid fields.
    #[error("invalid subscription: {0}")]
    InvalidSubscription(#[from] SubscriptionError),
    /// The encrypted notice exceeds what push services must accept (RFC 8030 §7.2: 4096 bytes).
    #[error("push payload is {size} bytes, more than {max}")]
    PayloadTooLarge {
        /// Size of the encrypted body.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Encrypting or signing the payload failed (not expected with a valid subscription),
    /// or the VAPID subject is not a valid header value.
    #[error("building the push request failed: {0}")]
    Build(String),
    /// The receiver refused the request with a status retrying will not fix (400, 401, 403,
    /// 413, …). For Web Push a 401/403 usually means the VAPID key changed since the browser
    /// subscribed.
    #[error("{provider} push refused with HTTP status {status} after {attempts} attempt(s)")]
    Rejected {
        /// `"webpush"` or `"webhook"`.
        provider: &'static str,
        /// The status.
        status: u16,
        /// Attempts made.
        attempts: u32,
    },
    /// Every allowed attempt failed, or the time budget ran out.
    #[error("{provider} push gave up after {attempts} attempt(s): {last}")]
    Exhausted {
        /// `"webpush"` or `"webhook"`.
        provider: &'static str,
        /// Attempts made.
        attempts: u32,
        /// The last failure seen.
        last: Failure,
    },
}

impl PushError {
    /// Attempts made before the error: 0 when the request could not even be built.
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Rejected { attempts, .. } | Self::Exhausted { attempts, .. } => *attempts,
            Self::InvalidSubscription(_) | Self::PayloadTooLarge { .. } | Self::Build(_) => 0,
        }
    }
}

/// Why a [`Pusher`](crate::Pusher) could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PusherBuildError {
    /// The TLS client configuration was refused by rustls.
    #[error("tls configuration: {0}")]
    Tls(String),
}

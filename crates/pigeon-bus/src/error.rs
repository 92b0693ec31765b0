//! Errors, one type per operation: what publishing, subscribing, consuming and acking can
//! actually fail with. Causes a caller cannot act on are carried as text.

use thiserror::Error;

/// Why a publish was refused. Nothing was stored when this is returned.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PublishError {
    /// The message (payload, headers, key and id) is larger than the backend accepts.
    #[error("message of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Size of the refused message.
        size: usize,
        /// The backend's limit.
        max: usize,
    },
    /// The topic name is not one the bus accepts.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// The backend stayed full for longer than the publish timeout.
    #[error("the bus stayed full for {waited_ms} ms; consumers are not keeping up")]
    Full {
        /// How long the publish waited for room.
        waited_ms: u64,
    },
    /// The bus was shut down.
    #[error("the bus is shut down")]
    Closed,
    /// The backend failed to accept the message.
    #[error("backend refused the message: {0}")]
    Backend(String),
}

/// Why a subscription could not be set up.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SubscribeError {
    /// The topic or group name is not one the bus accepts.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// An option is out of range.
    #[error("invalid subscribe option: {0}")]
    InvalidOption(&'static str),
    /// The bus was shut down.
    #[error("the bus is shut down")]
    Closed,
    /// The backend failed to create the consumer.
    #[error("backend could not create the consumer: {0}")]
    Backend(String),
}

/// Why fetching deliveries stopped.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConsumeError {
    /// The consumer was closed: the bus shut down or the consumer was deleted.
    #[error("the consumer is closed")]
    Closed,
    /// A backend failure; the subscription retries after a pause.
    #[error("backend error while fetching: {0}")]
    Backend(String),
}

/// Why an ack, nack or term did not reach the backend. The message will be redelivered after its
/// ack deadline, so at-least-once delivery still holds.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("acknowledgement failed: {0}")]
pub struct AckError(pub String);

/// A topic or group name the bus refuses.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("invalid {what} name {name:?}: {reason}")]
pub struct NameError {
    /// "topic" or "group".
    pub what: &'static str,
    /// The refused name.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Longest topic or group name.
pub const MAX_NAME_LEN: usize = 200;

/// Checks a topic name: dot-separated tokens of letters, digits, `-` and `_`, as NATS subjects
/// without wildcards, so every backend can carry every topic.
pub fn validate_topic(name: &str) -> Result<(), NameError> {
    validate(name, "topic", true)
}

/// Checks a consumer group name: letters, digits, `-` and `_` (a JetStream durable name).
pub fn validate_group(name: &str) -> Result<(), NameError> {
    validate(name, "group", false)
}

const INVALID: u8 = 0;
const NAME_CHAR: u8 = 1;
const DOT: u8 = 2;

/// The class of every byte in a topic or group name.
static NAME_BYTES: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || c == b'-' || c == b'_' {
            table[b] = NAME_CHAR;
        }
        b += 1;
    }
    table[b'.' as usize] = DOT;
    table
};

fn validate(name: &str, what: &'static str, dots: bool) -> Result<(), NameError> {
    let fail = |reason| {
        Err(NameError {
            what,
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return fail("empty");
    }
    if name.len() > MAX_NAME_LEN {
        return fail("longer than 200 bytes");
    }
    // One table look-up per byte: this runs on every publish.
    let mut previous_dot = true;
    let mut bad = false;
    let mut empty_token = false;
    for &b in name.as_bytes() {
        let class = NAME_BYTES[usize::from(b)];
        let dot = class == DOT;
        bad |= class == INVALID || (dot && !dots);
        empty_token |= dot & previous_dot;
        previous_dot = dot;
    }
    if bad {
        return fail(if dots {
            "only letters, digits, '-', '_' and '.' are allowed"
        } else {
            "only letters, digits, '-' and '_' are allowed"
        });
    }
    if empty_token || previous_dot {
        return fail("empty token between dots");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics() {
        assert!(validate_topic("orders.kitchen").is_ok());
        assert!(validate_topic("a-b_c.1").is_ok());
        assert!(validate_topic("").is_err());
        assert!(validate_topic("a..b").is_err());
        assert!(validate_topic(".a").is_err());
        assert!(validate_topic("a.*").is_err());
        assert!(validate_topic("a >").is_err());
        assert!(validate_topic(&"x".repeat(201)).is_err());
    }

    #[test]
    fn groups() {
        assert!(validate_group("kitchen-1").is_ok());
        let err = validate_group("a.b").unwrap_err();
        assert_eq!(err.what, "group");
        assert!(err.to_string().contains("a.b"));
    }
}

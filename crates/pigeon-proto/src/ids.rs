//! Identifiers. Each is a string newtype that validates on construction and deserialization.
//!
//! Server-made ids (users, devices, messages) are UUIDv7 text, but clients treat them as opaque
//! tokens of a safe alphabet, so the server may change how it makes them.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("invalid {kind}: {reason}")]
pub struct IdError {
    /// Which identifier.
    pub kind: &'static str,
    /// What is wrong.
    pub reason: &'static str,
}

fn check(kind: &'static str, s: &str, max: usize) -> Result<(), IdError> {
    let fail = |reason| Err(IdError { kind, reason });
    if s.is_empty() {
        return fail("empty");
    }
    if s.len() > max {
        return fail("too long");
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return fail("only letters, digits, '-', '_' and '.' are allowed");
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps `s`.
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check($kind, &s, $max)?;
                Ok(Self(s))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

id_type!(
    /// A user, as the server names it.
    UserId, "user id", 64
);
id_type!(
    /// One device of a user; each has its own token, keys and mailbox.
    DeviceId, "device id", 64
);
id_type!(
    /// A message, as the server names it when it accepts a send.
    MessageId, "message id", 64
);
id_type!(
    /// The client's own id of a send, so a retried send is recognised and stored once.
    ClientMsgId, "client message id", 64
);
id_type!(
    /// A user's chosen name, unique on the server.
    Username, "username", 32
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ids_round_trip_through_json() {
        let id = UserId::new("0190b6c4-7c1e-7b4a-9f3e-1a2b3c4d5e6f").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<UserId>(&json).unwrap(), id);
    }

    #[test]
    fn malformed_ids_fail_deserialization_with_their_kind() {
        for bad in ["\"\"", "\"a b\"", "\"x/../y\"", "\"é\""] {
            let err = serde_json::from_str::<DeviceId>(bad).unwrap_err();
            assert!(err.to_string().contains("device id"), "{bad}: {err}");
        }
        assert!(Username::new("x".repeat(33)).is_err());
        assert!(Username::new("x".repeat(32)).is_ok());
    }
}

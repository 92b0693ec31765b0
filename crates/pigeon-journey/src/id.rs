//! Trace and span ids: fixed-size byte arrays, printed and serialized as lowercase hex
//! (the W3C `traceparent` form), so JSON answers match what operators see in logs.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 16-byte trace id. All zeros is invalid in W3C terms but accepted here.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub [u8; 16]);

/// An 8-byte span id. All zeros means "no span" (e.g. no parent).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub [u8; 8]);

/// The text was not a hex id of the expected length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} hex digits, got {got:?}")]
pub struct ParseIdError {
    expected: usize,
    got: String,
}

fn parse_hex<const N: usize>(s: &str) -> Result<[u8; N], ParseIdError> {
    let err = || ParseIdError {
        expected: N * 2,
        got: s.chars().take(64).collect(),
    };
    let bytes = s.as_bytes();
    if bytes.len() != N * 2 {
        return Err(err());
    }
    let mut out = [0u8; N];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16).ok_or_else(err)?;
        let lo = (pair[1] as char).to_digit(16).ok_or_else(err)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Ok(out)
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

macro_rules! hex_id {
    ($ty:ident, $n:literal) => {
        impl $ty {
            /// The id from its hex form.
            pub fn from_hex(s: &str) -> Result<Self, ParseIdError> {
                parse_hex::<$n>(s).map(Self)
            }

            /// True when every byte is zero.
            pub fn is_zero(&self) -> bool {
                self.0 == [0u8; $n]
            }
        }

        impl std::str::FromStr for $ty {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_hex(s)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(f, &self.0)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(", stringify!($ty))?;
                write_hex(f, &self.0)?;
                f.write_str(")")
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::from_hex(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_id!(TraceId, 16);
hex_id!(SpanId, 8);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let t = TraceId([0xab; 16]);
        assert_eq!(TraceId::from_hex(&t.to_string()).unwrap(), t);
        let s = SpanId([1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(s.to_string(), "0102030405060708");
        assert_eq!("0102030405060708".parse::<SpanId>().unwrap(), s);
        assert!(SpanId::from_hex("zz02030405060708").is_err());
        assert!(SpanId::from_hex("01").is_err());
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"0102030405060708\"");
    }
}

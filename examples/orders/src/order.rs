//! The order: what every service reads and writes, as JSON on the bus.
//!
//! Why JSON with a UUID: services in other languages join the same pipeline by speaking the
//! same payload, and the order id (also the bus message key and message id) is what an operator
//! greps for in logs and looks up in the journey store.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The dishes ITuna serves (seed 001 names a few of them).
pub const MENU: &[&str] = &[
    "SPICY ITUNA ROLL",
    "ITUNA ROLL",
    "TUNA NIGIRI",
    "SALMON NIGIRI",
    "DRAGON ROLL",
    "MISO SOUP",
    "EDAMAME",
];

const NAMES: &[&str] = &["Aiko", "Bruno", "Chen", "Dara", "Emeka", "Freya", "Goro"];
const STREETS: &[&str] = &["Harbour St", "Kelp Ave", "Wasabi Lane", "Nori Rd"];

/// Where an order was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The website; goes through validation.
    Website,
    /// A terminal in the restaurant; goes through validation.
    Onsite,
    /// Management's direct line to the kitchen; skips validation.
    DirectKitchen,
}

impl Source {
    /// The name used in payloads and span attributes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Website => "website",
            Self::Onsite => "onsite",
            Self::DirectKitchen => "direct-kitchen",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One order, as it travels between services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Unique id; also the bus key and message id.
    pub order_id: Uuid,
    /// Where it was placed.
    pub source: Source,
    /// The main dish (the kitchen names it when the order is ready).
    pub dish: String,
    /// Who ordered.
    pub customer: String,
    /// Where it goes.
    pub address: String,
}

/// A payload that is not an order.
#[derive(Debug, thiserror::Error)]
#[error("not an order: {0}")]
pub struct DecodeError(#[from] serde_json::Error);

impl Order {
    /// A random order from the menu, with a fresh id.
    pub fn random(source: Source) -> Self {
        let pick = |items: &[&str]| items[fastrand::usize(..items.len())].to_owned();
        Self {
            order_id: Uuid::new_v4(),
            source,
            dish: pick(MENU),
            customer: pick(NAMES),
            address: format!("{} {}", fastrand::u16(1..400), pick(STREETS)),
        }
    }

    /// The JSON payload.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing a struct of strings and a UUID cannot fail; an empty payload would be
        // rejected by the consumer as not an order, so nothing is lost silently.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a payload.
    pub fn from_json(payload: &[u8]) -> Result<Self, DecodeError> {
        Ok(serde_json::from_slice(payload)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip() {
        let order = Order::random(Source::DirectKitchen);
        let json = order.to_json();
        assert!(String::from_utf8_lossy(&json).contains("\"direct-kitchen\""));
        assert_eq!(Order::from_json(&json).unwrap(), order);
        assert!(MENU.contains(&order.dish.as_str()));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(Order::from_json(b"{").is_err());
    }
}

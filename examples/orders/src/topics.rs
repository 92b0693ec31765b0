//! The topics the pipeline uses, under an optional prefix.
//!
//! Why a prefix: several runs (tests, demos, a developer's laptop) can share one NATS server;
//! `--topic-prefix run-42` keeps their streams and consumer groups apart.

use std::sync::Arc;

/// Topic names, shared cheaply between tasks (the bus reuses the `Arc<str>`s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Orders waiting for order-validation.
    pub validate: Arc<str>,
    /// Orders waiting for the kitchen.
    pub kitchen: Arc<str>,
    /// Orders order-validation turned down, with the reason in a header.
    pub rejected: Arc<str>,
}

/// The header naming why an order was rejected.
pub const REJECTED_REASON_HEADER: &str = "orders-rejected-reason";

impl Topics {
    /// `orders.validate`, `orders.kitchen` and `orders.rejected`, after `prefix.` if it is not
    /// empty.
    pub fn with_prefix(prefix: &str) -> Self {
        let name = |suffix: &str| -> Arc<str> {
            let prefix = prefix.trim_matches('.');
            if prefix.is_empty() {
                Arc::from(format!("orders.{suffix}"))
            } else {
                Arc::from(format!("{prefix}.orders.{suffix}"))
            }
        };
        Self {
            validate: name("validate"),
            kitchen: name("kitchen"),
            rejected: name("rejected"),
        }
    }
}

impl Default for Topics {
    fn default() -> Self {
        Self::with_prefix("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(&*Topics::default().kitchen, "orders.kitchen");
        let t = Topics::with_prefix("run-1");
        assert_eq!(&*t.validate, "run-1.orders.validate");
        pigeon_bus::validate_topic(&t.rejected).unwrap();
    }
}

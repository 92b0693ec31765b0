//! How a subscription behaves: in-flight bound, ack deadline, attempts, backoff, drain.

use std::sync::Arc;
use std::time::Duration;

use crate::SubscribeError;

/// Options of one subscription. Defaults suit most services; every one can be changed.
#[derive(Debug, Clone)]
pub struct SubscribeOptions {
    pub(crate) topic: Arc<str>,
    pub(crate) group: Arc<str>,
    pub(crate) max_in_flight: usize,
    pub(crate) ack_deadline: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) drain_timeout: Duration,
}

impl SubscribeOptions {
    /// Consume `topic` as a member of `group`.
    pub fn new(topic: impl AsRef<str>, group: impl AsRef<str>) -> Self {
        Self {
            topic: Arc::from(topic.as_ref()),
            group: Arc::from(group.as_ref()),
            max_in_flight: 256,
            ack_deadline: Duration::from_secs(30),
            max_attempts: 5,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
        }
    }

    /// At most this many messages are handed to this subscriber and not yet settled (the
    /// backpressure bound). Default 256.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// A message not settled within this time of its delivery is delivered again. Default 30 s.
    pub fn ack_deadline(mut self, deadline: Duration) -> Self {
        self.ack_deadline = deadline;
        self
    }

    /// After this many failed deliveries a message goes to `{topic}.dlq`. Default 5.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// Delay before the first retry, doubled per attempt up to `max`. Default 100 ms to 30 s.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max;
        self
    }

    /// How long shutdown waits for running handlers. Default 30 s.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// The retry delay after failed attempt number `attempt`.
    pub(crate) fn backoff_for(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        self.backoff_initial
            .saturating_mul(factor)
            .min(self.backoff_max)
    }

    pub(crate) fn check(&self) -> Result<(), SubscribeError> {
        if self.max_in_flight == 0 {
            return Err(SubscribeError::InvalidOption(
                "max_in_flight must be at least 1",
            ));
        }
        if self.max_attempts == 0 {
            return Err(SubscribeError::InvalidOption(
                "max_attempts must be at least 1",
            ));
        }
        if self.ack_deadline.is_zero() {
            return Err(SubscribeError::InvalidOption(
                "ack_deadline must be positive",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let o = SubscribeOptions::new("t", "g")
            .backoff(Duration::from_millis(100), Duration::from_millis(500));
        assert_eq!(o.backoff_for(1), Duration::from_millis(100));
        assert_eq!(o.backoff_for(2), Duration::from_millis(200));
        assert_eq!(o.backoff_for(3), Duration::from_millis(400));
        assert_eq!(o.backoff_for(4), Duration::from_millis(500));
        assert_eq!(o.backoff_for(60), Duration::from_millis(500));
    }

    #[test]
    fn refuses_zero_values() {
        assert!(
            SubscribeOptions::new("t", "g")
                .max_in_flight(0)
                .check()
                .is_err()
        );
        assert!(
            SubscribeOptions::new("t", "g")
                .max_attempts(0)
                .check()
                .is_err()
        );
        assert!(
            SubscribeOptions::new("t", "g")
                .ack_deadline(Duration::ZERO)
                .check()
                .is_err()
        );
        assert!(SubscribeOptions::new("t", "g").check().is_ok());
    }
}

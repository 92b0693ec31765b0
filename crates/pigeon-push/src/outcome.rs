//! What a send achieved, in the terms the caller's `messaging.deliver_push` span records.

use std::time::Duration;

/// A push that reached a definite answer. Failures are [`PushError`](crate::PushError)s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The push service or webhook accepted the push (a 2xx status).
    Delivered {
        /// `"webpush"` or `"webhook"`.
        provider: &'static str,
        /// The 2xx status (push services answer 201).
        status: u16,
        /// Attempts it took, the first included.
        attempts: u32,
        /// Time from the first attempt to the answer, retry waits included.
        elapsed: Duration,
    },
    /// 404 or 410: the subscription no longer exists. The caller deletes it; a 404 or 410 is
    /// never retried.
    Gone {
        /// `"webpush"` or `"webhook"`.
        provider: &'static str,
        /// 404 or 410.
        status: u16,
        /// Attempts made: 1 unless earlier attempts failed in a retryable way.
        attempts: u32,
    },
}

impl PushOutcome {
    /// `"webpush"` or `"webhook"`, for the `push.provider` span attribute.
    pub fn provider(&self) -> &'static str {
        match self {
            Self::Delivered { provider, .. } | Self::Gone { provider, .. } => provider,
        }
    }

    /// Whether the push was delivered, for the `push.success` span attribute.
    pub fn success(&self) -> bool {
        matches!(self, Self::Delivered { .. })
    }

    /// Attempts made, the first included.
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Delivered { attempts, .. } | Self::Gone { attempts, .. } => *attempts,
        }
    }
}

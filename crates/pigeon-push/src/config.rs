//! Settings of a [`Pusher`](crate::Pusher): retry policy, HTTP timeouts and Web Push headers.
//!
//! The defaults suit a DM server: a push is worth retrying for about a minute (after that the
//! device will usually have reconnected, and the mailbox resends on reconnect anyway), and a
//! notice stays useful for a day on the push service (`TTL`). Every setter documents its default.
//! Out-of-range values are clamped rather than refused, and each setter says how.
//!
//! Environment is one layer: [`PushConfig::from_env`] starts from the defaults and applies the
//! `PIGEON_PUSH_*` variables named on each setter; `with_…` calls made after it win.

use std::time::Duration;

/// The most a VAPID token may be valid for: RFC 8292 §2 forbids `exp` more than 24 h ahead.
pub const MAX_VAPID_VALIDITY: Duration = Duration::from_secs(24 * 60 * 60);

/// Web Push `Urgency` (RFC 8030 §5.3): how eagerly the push service wakes the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Urgency {
    /// Only on power and Wi-Fi.
    VeryLow,
    /// On Wi-Fi or power.
    Low,
    /// Unless the battery is low.
    Normal,
    /// Always, including on low battery. A direct message is this.
    #[default]
    High,
}

impl Urgency {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VeryLow => "very-low",
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
        }
    }
}

/// Settings for [`Pusher`](crate::Pusher). Build with `PushConfig::default().with_…()`.
#[derive(Debug, Clone)]
pub struct PushConfig {
    pub(crate) max_attempts: u32,
    pub(crate) max_total_time: Duration,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) ttl: Duration,
    pub(crate) urgency: Urgency,
    pub(crate) vapid_subject: String,
    pub(crate) vapid_validity: Duration,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            max_total_time: Duration::from_secs(60),
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            ttl: Duration::from_secs(24 * 60 * 60),
            urgency: Urgency::High,
            vapid_subject: "mailto:admin@localhost".to_owned(),
            vapid_validity: Duration::from_secs(12 * 60 * 60),
        }
    }
}

/// An environment variable that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}={value:?}: {expected}")]
pub struct EnvError {
    /// The variable.
    pub var: &'static str,
    /// Its value.
    pub value: String,
    /// What it should look like.
    pub expected: &'static str,
}

impl PushConfig {
    /// The defaults with the `PIGEON_PUSH_*` environment variables applied.
    pub fn from_env() -> Result<Self, EnvError> {
        Self::default().with_env_from(|var| std::env::var(var).ok())
    }

    /// Applies variables found by `lookup` (the environment, in [`from_env`](Self::from_env)).
    pub fn with_env_from(
        mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, EnvError> {
        let number = |var: &'static str| -> Result<Option<u64>, EnvError> {
            lookup(var)
                .map(|value| {
                    value.trim().parse::<u64>().map_err(|_| EnvError {
                        var,
                        value,
                        expected: "a whole number",
                    })
                })
                .transpose()
        };
        if let Some(n) = number("PIGEON_PUSH_MAX_ATTEMPTS")? {
            self = self.with_max_attempts(u32::try_from(n).unwrap_or(u32::MAX));
        }
        if let Some(n) = number("PIGEON_PUSH_MAX_TOTAL_SECS")? {
            self = self.with_max_total_time(Duration::from_secs(n));
        }
        if let Some(n) = number("PIGEON_PUSH_REQUEST_TIMEOUT_MS")? {
            self = self.with_request_timeout(Duration::from_millis(n));
        }
        if let Some(n) = number("PIGEON_PUSH_TTL_SECS")? {
            self = self.with_ttl(Duration::from_secs(n));
        }
        if let Some(subject) = lookup("PIGEON_PUSH_VAPID_SUBJECT") {
            self = self.with_vapid_subject(subject);
        }
        Ok(self)
    }

    /// Attempts per send, the first included. Default 5; 0 is taken as 1.
    /// Env: `PIGEON_PUSH_MAX_ATTEMPTS`.
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Time budget of one send, waits included: no retry starts if its wait would end after
    /// it. Default 60 s. Env: `PIGEON_PUSH_MAX_TOTAL_SECS`.
    pub fn with_max_total_time(mut self, budget: Duration) -> Self {
        self.max_total_time = budget;
        self
    }

    /// Backoff before the first retry; it doubles per retry up to `max`, with jitter (a wait
    /// is drawn between half and all of it). A `Retry-After` header replaces it.
    /// Defaults 500 ms and 15 s; `max` below `initial` is raised to `initial`.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// TCP + TLS connect timeout. Default 5 s.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Timeout of one attempt, from sending the request to the response headers. Default 10 s.
    /// Env: `PIGEON_PUSH_REQUEST_TIMEOUT_MS`.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Web Push `TTL` header: how long the push service keeps an undelivered notice.
    /// Default 24 h. Whole seconds are sent. Env: `PIGEON_PUSH_TTL_SECS`.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Web Push `Urgency` header. Default [`Urgency::High`].
    pub fn with_urgency(mut self, urgency: Urgency) -> Self {
        self.urgency = urgency;
        self
    }

    /// VAPID `sub` claim: a `mailto:` or `https:` contact for the push service's operators.
    /// Default `mailto:admin@localhost`; set a real one in production (some services reject
    /// `localhost`). Env: `PIGEON_PUSH_VAPID_SUBJECT`.
    pub fn with_vapid_subject(mut self, subject: impl Into<String>) -> Self {
        self.vapid_subject = subject.into();
        self
    }

    /// How far ahead the VAPID token's `exp` lies. Default 12 h; clamped to
    /// [`MAX_VAPID_VALIDITY`] (24 h) and to at least 60 s.
    pub fn with_vapid_validity(mut self, validity: Duration) -> Self {
        self.vapid_validity = validity.clamp(Duration::from_secs(60), MAX_VAPID_VALIDITY);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setters_clamp() {
        let config = PushConfig::default()
            .with_max_attempts(0)
            .with_vapid_validity(Duration::from_secs(48 * 3600))
            .with_backoff(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(config.max_attempts, 1);
        assert_eq!(config.vapid_validity, MAX_VAPID_VALIDITY);
        assert_eq!(config.max_backoff, Duration::from_secs(2));
    }

    #[test]
    fn env_layer_then_explicit_settings_win() {
        let env = |var: &str| match var {
            "PIGEON_PUSH_TTL_SECS" => Some("60".to_owned()),
            "PIGEON_PUSH_VAPID_SUBJECT" => Some("mailto:ops@example.com".to_owned()),
            "PIGEON_PUSH_MAX_ATTEMPTS" => Some("2".to_owned()),
            _ => None,
        };
        let config = PushConfig::default()
            .with_env_from(env)
            .unwrap()
            .with_max_attempts(7);
        assert_eq!(config.ttl, Duration::from_secs(60));
        assert_eq!(config.vapid_subject, "mailto:ops@example.com");
        assert_eq!(config.max_attempts, 7);

        let bad = PushConfig::default()
            .with_env_from(|var| (var == "PIGEON_PUSH_TTL_SECS").then(|| "a day".to_owned()))
            .unwrap_err();
        assert_eq!(bad.var, "PIGEON_PUSH_TTL_SECS");
    }
}

//! The retry policy: which answers are worth another attempt, and how long to wait first.
//!
//! A push that fails for a transient reason (429, 5xx, 408, a dropped connection, a timeout) is
//! retried with exponential backoff and jitter, so that many pushes failing at once against
//! one push service do not come back in lock-step. A `Retry-After` header (seconds or an HTTP
//! date, RFC 9110 §10.2.3) replaces the backoff: the service knows best when it can take more.
//! 404 and 410 mean the subscription is gone (RFC 8030 §7.3) and other 4xx mean the request is
//! wrong; retrying either cannot help.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode, header::RETRY_AFTER};

/// What an HTTP status means for the send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// 2xx.
    Delivered,
    /// 404 or 410.
    Gone,
    /// 408, 429 or 5xx.
    Retry,
    /// Any other status.
    Rejected,
}

pub(crate) fn classify(status: StatusCode) -> Verdict {
    match status.as_u16() {
        200..=299 => Verdict::Delivered,
        404 | 410 => Verdict::Gone,
        408 | 429 | 500..=599 => Verdict::Retry,
        _ => Verdict::Rejected,
    }
}

/// The wait a `Retry-After` header asks for, if it has one that parses. A date in the past
/// asks for no wait.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Exponential backoff with "equal jitter": the n-th retry waits between half and all of
/// `initial · 2^(n-1)`, capped at `max`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    pub(crate) initial: Duration,
    pub(crate) max: Duration,
}

impl Backoff {
    /// Wait before retry number `retry` (1 for the first retry).
    pub(crate) fn delay(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(20);
        let ceiling = self.initial.saturating_mul(1 << exponent).min(self.max);
        let half = ceiling / 2;
        half + half.mul_f64(unit_random())
    }
}

/// A uniform draw from [0, 1]; 1 when the OS random source fails (no jitter then, which is
/// harmless).
fn unit_random() -> f64 {
    let mut bytes = [0u8; 4];
    match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX),
        Err(_) => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn statuses() {
        assert_eq!(classify(StatusCode::CREATED), Verdict::Delivered);
        assert_eq!(classify(StatusCode::GONE), Verdict::Gone);
        assert_eq!(classify(StatusCode::NOT_FOUND), Verdict::Gone);
        assert_eq!(classify(StatusCode::TOO_MANY_REQUESTS), Verdict::Retry);
        assert_eq!(classify(StatusCode::SERVICE_UNAVAILABLE), Verdict::Retry);
        assert_eq!(classify(StatusCode::FORBIDDEN), Verdict::Rejected);
        assert_eq!(classify(StatusCode::PAYLOAD_TOO_LARGE), Verdict::Rejected);
    }

    fn headers(value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        map
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(
            retry_after(&headers("7"), now),
            Some(Duration::from_secs(7))
        );
        // 1445412480 is Wed, 21 Oct 2015 07:28:00 GMT.
        let later = "Wed, 21 Oct 2015 07:28:30 GMT";
        assert_eq!(
            retry_after(&headers(later), now),
            Some(Duration::from_secs(30))
        );
        let earlier = "Wed, 21 Oct 2015 07:27:00 GMT";
        assert_eq!(retry_after(&headers(earlier), now), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers("soon"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(350),
        };
        for (retry, ceiling) in [(1, 100), (2, 200), (3, 350), (30, 350)] {
            let delay = backoff.delay(retry);
            let ceiling = Duration::from_millis(ceiling);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{retry}: {delay:?}"
            );
        }
    }
}

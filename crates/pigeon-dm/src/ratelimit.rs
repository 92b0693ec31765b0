//! Per-device token buckets: a device may burst, then is held to a sustained rate. Bounded in
//! memory: idle full buckets are swept once the map grows.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use pigeon_store::DeviceId;

use crate::ApiError;

/// Above this many tracked devices, buckets that are full again are forgotten.
const SWEEP_ABOVE: usize = 10_000;

pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<DeviceId, (f64, Instant)>>,
}

impl RateLimiter {
    pub(crate) fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate: rate.max(f64::MIN_POSITIVE),
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `device`, or says how long to wait.
    pub(crate) fn check(&self, device: &DeviceId) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > SWEEP_ABOVE {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let (tokens, at) = buckets.entry(device.clone()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - *tokens) / self.rate;
            Err(ApiError::RateLimited {
                retry_after_s: wait.ceil().max(1.0) as u64,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_limits_with_a_retry_after() {
        let limiter = RateLimiter::new(1.0, 3.0);
        let device = DeviceId::from_string("d");
        for _ in 0..3 {
            assert!(limiter.check(&device).is_ok());
        }
        assert!(matches!(
            limiter.check(&device),
            Err(ApiError::RateLimited { retry_after_s: 1 })
        ));
        assert!(
            limiter.check(&DeviceId::from_string("other")).is_ok(),
            "per device"
        );
    }
}

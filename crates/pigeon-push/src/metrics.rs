//! Push metrics through the OpenTelemetry API (the binary installs the SDK, or nothing and
//! these are no-ops).
//!
//! * `pigeon.push.sends` (counter): finished sends by `push.provider` and `push.outcome`
//!   (`delivered`, `gone`, `rejected`, `exhausted`, `invalid`).
//! * `pigeon.push.retries` (counter): retries by `push.provider`.
//! * `pigeon.push.duration` (histogram, seconds): time per send, retries included.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram};

use crate::error::PushError;
use crate::outcome::PushOutcome;

pub(crate) struct Metrics {
    sends: Counter<u64>,
    retries: Counter<u64>,
    duration: Histogram<f64>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let meter = opentelemetry::global::meter("pigeon-push");
        Self {
            sends: meter
                .u64_counter("pigeon.push.sends")
                .with_description("Finished push sends by provider and outcome")
                .build(),
            retries: meter
                .u64_counter("pigeon.push.retries")
                .with_description("Push attempts that were retried")
                .build(),
            duration: meter
                .f64_histogram("pigeon.push.duration")
                .with_description("Time per push send, retries included")
                .with_unit("s")
                .build(),
        }
    }

    pub(crate) fn retry(&self, provider: &'static str) {
        self.retries
            .add(1, &[KeyValue::new("push.provider", provider)]);
    }

    pub(crate) fn finished(
        &self,
        provider: &'static str,
        result: &Result<PushOutcome, PushError>,
        elapsed: Duration,
    ) {
        let outcome = match result {
            Ok(PushOutcome::Delivered { .. }) => "delivered",
            Ok(PushOutcome::Gone { .. }) => "gone",
            Err(PushError::Rejected { .. }) => "rejected",
            Err(PushError::Exhausted { .. }) => "exhausted",
            Err(_) => "invalid",
        };
        let attributes = [
            KeyValue::new("push.provider", provider),
            KeyValue::new("push.outcome", outcome),
        ];
        self.sends.add(1, &attributes);
        self.duration.record(elapsed.as_secs_f64(), &attributes);
    }
}

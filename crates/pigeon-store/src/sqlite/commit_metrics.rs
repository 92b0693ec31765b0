//! The group commit's metrics, through the OpenTelemetry API (the binary installs the SDK and
//! serves them at `/metrics`; without one these are no-ops).
//!
//! * `pigeon.store.commit.duration` (histogram, seconds): the `COMMIT` of one group commit,
//!   which is the WAL write and its fsync (the `ROLLBACK` when it failed). A send is answered
//!   only after it, so this is the disk's share of `messaging.persist`: when sends slow down,
//!   it tells whether the disk stalled. On this project's virtual test machine, 95 % of the
//!   commits of `pigeon bench dm --rate 1000` took under 0.25 ms, and a few a run 5–25 ms.
//! * `pigeon.store.commit.requests` (histogram): write requests that shared one commit, so
//!   how well group commit is batching. Its count is the number of commits.
//!
//! Both carry `db.system = sqlite` and `commit.outcome` (`committed` or `rolled_back`).

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::Histogram;

/// Bucket bounds of the commit duration, in seconds: 100 µs to 2.5 s.
const DURATION_BOUNDS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
/// Bucket bounds of requests per commit (the writer takes at most `max_batch`).
const REQUEST_BOUNDS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// The writer's instruments.
pub(super) struct CommitMetrics {
    duration: Histogram<f64>,
    requests: Histogram<u64>,
    committed: [KeyValue; 2],
    rolled_back: [KeyValue; 2],
}

impl CommitMetrics {
    pub(super) fn new() -> Self {
        let meter = opentelemetry::global::meter("pigeon-store");
        let outcome = |o: &'static str| {
            [
                KeyValue::new("db.system", "sqlite"),
                KeyValue::new("commit.outcome", o),
            ]
        };
        Self {
            duration: meter
                .f64_histogram("pigeon.store.commit.duration")
                .with_description("Time of one group commit's COMMIT: the WAL write and its fsync")
                .with_unit("s")
                .with_boundaries(DURATION_BOUNDS.to_vec())
                .build(),
            requests: meter
                .u64_histogram("pigeon.store.commit.requests")
                .with_description("Write requests that shared one group commit")
                .with_boundaries(REQUEST_BOUNDS.to_vec())
                .build(),
            committed: outcome("committed"),
            rolled_back: outcome("rolled_back"),
        }
    }

    /// Records one group commit of `requests` requests whose `COMMIT` (or `ROLLBACK`) took
    /// `elapsed`.
    pub(super) fn record(&self, requests: usize, elapsed: Duration, committed: bool) {
        let attributes = if committed {
            &self.committed
        } else {
            &self.rolled_back
        };
        self.duration.record(elapsed.as_secs_f64(), attributes);
        self.requests
            .record(u64::try_from(requests).unwrap_or(u64::MAX), attributes);
    }
}

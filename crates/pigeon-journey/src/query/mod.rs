//! Queries over the store's state. Each file answers one kind of question; all of them read
//! heads first and decode blobs only for what they return, so scans stay in the 80-byte
//! heads.
//!
//! * search: a trace by id, traces by indexed attribute value, recent traces by filters
//! * journey: the journey of a message across traces joined by ids and links
//! * latency: percentiles per (service, span name)
//! * graph: the service graph, with queue time on bus hops
//! * stuck: journeys that started but never reached their terminal step
//! * matcher: span matchers used by flow rules

mod graph;
mod journey;
mod latency;
mod matcher;
mod search;
mod stuck;

use serde::{Deserialize, Serialize};

pub(crate) use graph::service_graph;
pub use graph::{EdgeKind, Percentiles, QUEUE_TIME_ATTR, ServiceEdge, ServiceGraph};
pub(crate) use journey::journey;
pub use journey::{Journey, JourneyOptions, JourneySpan, JourneyTrace, SpanRef};
pub use latency::LatencyStats;
pub(crate) use latency::latency;
pub use matcher::{NameMatch, SpanMatcher};
pub use search::{TraceQuery, TraceSummary};
pub(crate) use search::{find_by_attribute, search, trace};
pub(crate) use stuck::stuck;
pub use stuck::{FlowRule, Step, StuckJourney};

/// A window on span start times (unix nanoseconds, `from` inclusive, `to` exclusive). The
/// default is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TimeRange {
    /// Earliest start, inclusive.
    pub from_unix_nano: Option<u64>,
    /// Latest start, exclusive.
    pub to_unix_nano: Option<u64>,
}

impl TimeRange {
    /// Everything.
    pub fn all() -> Self {
        Self::default()
    }

    /// Is `t` inside?
    pub fn contains(&self, t: u64) -> bool {
        self.from_unix_nano.is_none_or(|f| t >= f) && self.to_unix_nano.is_none_or(|e| t < e)
    }
}

/// Nearest-rank percentile of sorted values (`p` in 0..=100); 0 for none.
pub(crate) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Nanoseconds as fractional milliseconds.
pub(crate) fn ms(nanos: u64) -> f64 {
    nanos as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
        assert!(TimeRange::all().contains(0));
        let r = TimeRange {
            from_unix_nano: Some(10),
            to_unix_nano: Some(20),
        };
        assert!(r.contains(10) && !r.contains(20) && !r.contains(9));
    }
}

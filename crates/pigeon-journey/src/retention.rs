//! Retention: after every drain the store evicts its oldest spans until both limits hold.
//!
//! Age is judged on the oldest-arrived span's end time. Spans arrive roughly in end-time
//! order (a span is exported when it ends), so evicting by arrival keeps eviction O(1) per
//! span and lets the arena free whole chunks; a span that arrives very late simply lives as
//! long as its neighbours in arrival order.

use std::time::Duration;

use crate::config::Retention;
use crate::state::State;

impl State {
    /// Evicts oldest-first until the byte budget and the age limit hold at `now` (unix
    /// nanoseconds). Returns how many spans were evicted.
    pub(crate) fn enforce(&mut self, retention: &Retention, now_unix_nano: u64) -> u64 {
        let cutoff = retention
            .max_age
            .map(|age| now_unix_nano.saturating_sub(duration_nanos(age)));
        let mut evicted = 0;
        loop {
            let first = self.arena.first_live();
            let Some(head) = self.arena.head(first) else {
                break;
            };
            let over_bytes = retention.max_bytes.is_some_and(|max| self.bytes > max);
            let too_old = cutoff.is_some_and(|c| head.end < c);
            if !over_bytes && !too_old {
                break;
            }
            self.evict_front();
            evicted += 1;
        }
        evicted
    }
}

pub(crate) fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{SpanId, TraceId};
    use crate::record::SpanRecord;

    fn span(i: u8, end: u64) -> SpanRecord {
        SpanRecord {
            trace_id: TraceId([i; 16]),
            span_id: SpanId([i; 8]),
            name: "op".into(),
            service: "svc".into(),
            start_unix_nano: end,
            end_unix_nano: end,
            ..SpanRecord::default()
        }
    }

    #[test]
    fn evicts_by_age_then_by_bytes() {
        let mut st = State::new(&[], 0);
        for i in 0..10u8 {
            st.insert(&span(i, u64::from(i) * 1_000_000_000));
        }
        let by_age = Retention {
            max_bytes: None,
            max_age: Some(Duration::from_secs(5)),
        };
        // now = 10 s: spans that ended before 5 s go (0..=4).
        assert_eq!(st.enforce(&by_age, 10_000_000_000), 5);
        assert_eq!(st.arena.first_live(), 5);
        let per_span = st.bytes / 5;
        let by_bytes = Retention {
            max_bytes: Some(per_span * 2),
            max_age: None,
        };
        assert_eq!(st.enforce(&by_bytes, 0), 3);
        assert_eq!(st.arena.len(), 2);
        assert!(st.ix.traces.contains_key(&TraceId([9; 16])));
        assert!(!st.ix.traces.contains_key(&TraceId([7; 16])));
    }
}

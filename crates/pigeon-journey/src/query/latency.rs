//! Latency percentiles per operation (service, span name): the "what is slow" table.
//! Computed by one scan over the heads in the time range; exact (sorted durations) rather
//! than sketched, because a scan of heads is cheap next to keeping per-operation sketches
//! consistent under eviction.

use serde::{Deserialize, Serialize};

use crate::hash::FastMap;
use crate::intern::Sym;
use crate::query::{TimeRange, ms, percentile};
use crate::state::State;

/// Percentiles of span durations for one (service, span name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    /// Service.
    pub service: String,
    /// Span name.
    pub span_name: String,
    /// Spans counted.
    pub count: usize,
    /// Of those, with error status.
    pub errors: usize,
    /// Median duration, ms.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Longest, ms.
    pub max_ms: f64,
}

pub(crate) fn latency(st: &State, range: TimeRange) -> Vec<LatencyStats> {
    let mut groups: FastMap<(Sym, Sym), (Vec<u64>, usize)> = FastMap::default();
    for idx in st.arena.first_live()..st.arena.next() {
        let Some(h) = st.arena.head(idx) else {
            continue;
        };
        if !range.contains(h.start) {
            continue;
        }
        let g = groups.entry((h.service, h.name)).or_default();
        g.0.push(h.duration());
        g.1 += usize::from(h.is_error());
    }
    let mut out: Vec<LatencyStats> = groups
        .into_iter()
        .map(|((service, name), (mut d, errors))| {
            d.sort_unstable();
            LatencyStats {
                service: st.interner.resolve(service).to_owned(),
                span_name: st.interner.resolve(name).to_owned(),
                count: d.len(),
                errors,
                p50_ms: ms(percentile(&d, 50.0)),
                p90_ms: ms(percentile(&d, 90.0)),
                p99_ms: ms(percentile(&d, 99.0)),
                max_ms: ms(d.last().copied().unwrap_or(0)),
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.service, &a.span_name).cmp(&(&b.service, &b.span_name)));
    out
}

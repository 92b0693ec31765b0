//! Finding traces: by id, by an indexed attribute value, and "recent traces" by service,
//! span name, duration, error status and time, the list view of a trace UI.

use serde::{Deserialize, Serialize};

use crate::error::QueryError;
use crate::hash::{FastSet, hash_text};
use crate::id::TraceId;
use crate::query::TimeRange;
use crate::record::SpanRecord;
use crate::state::State;

/// One line of a trace list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceSummary {
    /// The trace.
    pub trace_id: TraceId,
    /// Name of the root span (the earliest span if the root is missing).
    pub root_name: String,
    /// Service of that span.
    pub root_service: String,
    /// Earliest start.
    pub start_unix_nano: u64,
    /// Latest end minus earliest start.
    pub duration_ns: u64,
    /// Spans stored.
    pub span_count: usize,
    /// Spans with error status.
    pub error_count: usize,
    /// Distinct services, sorted.
    pub services: Vec<String>,
}

/// Filters for [`crate::JourneyStore::search`]. A trace matches when one of its spans
/// matches every filter given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TraceQuery {
    /// The span's service.
    pub service: Option<String>,
    /// The span's exact name.
    pub span_name: Option<String>,
    /// Minimum span duration, nanoseconds.
    pub min_duration_ns: Option<u64>,
    /// Maximum span duration, nanoseconds.
    pub max_duration_ns: Option<u64>,
    /// Only spans with error status.
    pub errors_only: bool,
    /// The span's start time window.
    pub time: TimeRange,
    /// At most this many traces. Default 20.
    pub limit: usize,
}

impl Default for TraceQuery {
    fn default() -> Self {
        Self {
            service: None,
            span_name: None,
            min_duration_ns: None,
            max_duration_ns: None,
            errors_only: false,
            time: TimeRange::default(),
            limit: 20,
        }
    }
}

pub(crate) fn trace(st: &State, trace_id: TraceId) -> Vec<SpanRecord> {
    let mut spans: Vec<SpanRecord> = st
        .trace_spans(&trace_id)
        .into_iter()
        .rev()
        .filter_map(|i| st.record(i))
        .collect();
    spans.sort_by_key(|s| s.start_unix_nano);
    spans
}

pub(crate) fn summarize(st: &State, trace_id: TraceId) -> Option<TraceSummary> {
    let idxs = st.trace_spans(&trace_id);
    let heads: Vec<_> = idxs.iter().filter_map(|i| st.arena.head(*i)).collect();
    let root = heads
        .iter()
        .filter(|h| h.parent().is_none())
        .min_by_key(|h| h.start)
        .or_else(|| heads.iter().min_by_key(|h| h.start))?;
    let mut services: Vec<String> = heads
        .iter()
        .map(|h| h.service)
        .collect::<FastSet<_>>()
        .into_iter()
        .map(|s| st.interner.resolve(s).to_owned())
        .collect();
    services.sort();
    let start = heads.iter().map(|h| h.start).min().unwrap_or(0);
    let end = heads.iter().map(|h| h.end).max().unwrap_or(0);
    Some(TraceSummary {
        trace_id,
        root_name: st.interner.resolve(root.name).to_owned(),
        root_service: st.interner.resolve(root.service).to_owned(),
        start_unix_nano: start,
        duration_ns: end.saturating_sub(start),
        span_count: heads.len(),
        error_count: heads.iter().filter(|h| h.is_error()).count(),
        services,
    })
}

fn newest_first(st: &State, traces: impl IntoIterator<Item = TraceId>) -> Vec<TraceSummary> {
    let mut out: Vec<TraceSummary> = traces
        .into_iter()
        .filter_map(|t| summarize(st, t))
        .collect();
    out.sort_by(|a, b| {
        b.start_unix_nano
            .cmp(&a.start_unix_nano)
            .then(a.trace_id.cmp(&b.trace_id))
    });
    out
}

pub(crate) fn find_by_attribute(
    st: &State,
    key: &str,
    value: &str,
    limit: usize,
) -> Result<Vec<TraceSummary>, QueryError> {
    let Some((_, sym)) = st.indexed_keys.iter().find(|(k, _)| k == key) else {
        return Err(QueryError::NotIndexed(key.to_owned()));
    };
    let mut traces = Vec::new();
    let mut seen = FastSet::default();
    if let Some(p) = st.ix.values.get(&hash_text(value)) {
        for &idx in p.as_slice().iter().rev() {
            let Some(h) = st.arena.head(idx) else {
                continue;
            };
            // A hash collision or another key with the same value: check the trace.
            if !seen.contains(&h.trace)
                && (st.carries(idx, Some(*sym), value) || st.trace_carries(&h.trace, *sym, value))
            {
                seen.insert(h.trace);
                traces.push(h.trace);
            }
        }
    }
    let mut out = newest_first(st, traces);
    out.truncate(limit);
    Ok(out)
}

pub(crate) fn search(st: &State, q: &TraceQuery) -> Vec<TraceSummary> {
    let lookup = |name: &Option<String>| match name {
        None => Ok(None),
        Some(n) => st.interner.lookup(n).map(Some).ok_or(()),
    };
    let (Ok(service), Ok(name)) = (lookup(&q.service), lookup(&q.span_name)) else {
        return Vec::new(); // a name never seen matches nothing
    };
    let mut found = Vec::new();
    let mut seen = FastSet::default();
    let mut idx = st.arena.next();
    while idx > st.arena.first_live() && found.len() < q.limit {
        idx -= 1;
        let Some(h) = st.arena.head(idx) else {
            break;
        };
        let d = h.duration();
        let hit = service.is_none_or(|s| s == h.service)
            && name.is_none_or(|n| n == h.name)
            && q.min_duration_ns.is_none_or(|m| d >= m)
            && q.max_duration_ns.is_none_or(|m| d <= m)
            && (!q.errors_only || h.is_error())
            && q.time.contains(h.start);
        if hit && seen.insert(h.trace) {
            found.push(h.trace);
        }
    }
    newest_first(st, found)
}

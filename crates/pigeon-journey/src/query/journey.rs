//! The journey of a message: the answer to "where did message X go?".
//!
//! A message usually crosses several traces: the DM send, then a delivery trace started by
//! the recipient's device (linked to the send and carrying the same `message.id`); a bus
//! consumer that starts a new trace with a link to the producer. So the journey starts from
//! every trace carrying the id in an indexed key (one hash probe into the value index), then
//! follows links both ways — spans of these traces linking elsewhere, and spans elsewhere
//! linking into them (the backlink index) — breadth-first, bounded by trace count and depth.
//! The spans of all those traces form one timeline sorted by start time.

use serde::{Deserialize, Serialize};

use crate::compact;
use crate::hash::{FastMap, FastSet, hash_text};
use crate::id::{SpanId, TraceId};
use crate::record::SpanRecord;
use crate::state::State;

/// Bounds on how far a journey is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JourneyOptions {
    /// At most this many traces (seeds first). Default 64.
    pub max_traces: usize,
    /// At most this many link hops from a trace carrying the id. Default 4.
    pub max_depth: usize,
}

impl Default for JourneyOptions {
    fn default() -> Self {
        Self {
            max_traces: 64,
            max_depth: 4,
        }
    }
}

/// A reference to a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SpanRef {
    /// Its trace.
    pub trace_id: TraceId,
    /// The span.
    pub span_id: SpanId,
}

/// A trace taking part in a journey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JourneyTrace {
    /// The trace.
    pub trace_id: TraceId,
    /// True if one of its spans carries the id; false if it joined through links.
    pub carries_id: bool,
    /// Link hops from the nearest trace carrying the id (0 for those).
    pub depth: usize,
}

/// One span on the journey's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JourneySpan {
    /// Position of the span's trace in [`Journey::traces`].
    pub trace_index: usize,
    /// The span.
    pub span: SpanRecord,
    /// Spans (in the store) that link to this span.
    pub backlinks: Vec<SpanRef>,
}

/// The journey of one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Journey {
    /// The id asked for.
    pub id: String,
    /// Traces in the order they were reached.
    pub traces: Vec<JourneyTrace>,
    /// Every span of those traces, by start time.
    pub spans: Vec<JourneySpan>,
    /// True if the bounds cut the journey short.
    pub truncated: bool,
}

/// Traces carrying `text` in an indexed key, in arrival order.
pub(crate) fn traces_carrying(st: &State, text: &str) -> Vec<TraceId> {
    let mut out = Vec::new();
    let Some(p) = st.ix.values.get(&hash_text(text)) else {
        return out;
    };
    for &idx in p.as_slice() {
        if let Some(h) = st.arena.head(idx)
            && !out.contains(&h.trace)
            && st.carries(idx, None, text)
        {
            out.push(h.trace);
        }
    }
    out
}

/// Traces reachable from `seeds` over links in either direction: `(trace, depth)` in BFS
/// order, and whether the bounds cut the walk short.
pub(crate) fn expand(
    st: &State,
    seeds: &[TraceId],
    opts: &JourneyOptions,
) -> (Vec<(TraceId, usize)>, bool) {
    let mut seen: FastSet<TraceId> = FastSet::default();
    let mut order = Vec::new();
    let mut truncated = false;
    let mut frontier = Vec::new();
    for t in seeds {
        if seen.insert(*t) {
            if order.len() >= opts.max_traces {
                truncated = true;
                break;
            }
            order.push((*t, 0));
            frontier.push(*t);
        }
    }
    let mut depth = 0;
    while !frontier.is_empty() {
        let mut next = Vec::new();
        let mut reach = |t: TraceId, next: &mut Vec<TraceId>, order: &mut Vec<(TraceId, usize)>| {
            if !st.ix.traces.contains_key(&t) || seen.contains(&t) {
                return;
            }
            if depth >= opts.max_depth || order.len() >= opts.max_traces {
                truncated = true;
                return;
            }
            seen.insert(t);
            order.push((t, depth + 1));
            next.push(t);
        };
        for t in &frontier {
            for idx in st.trace_spans(t) {
                if let Some((h, blob)) = st.arena.get(idx) {
                    for (lt, _) in compact::links(h, blob).unwrap_or_default() {
                        reach(lt, &mut next, &mut order);
                    }
                }
            }
            if let Some(p) = st.ix.backlinks.get(t) {
                for &idx in p.as_slice() {
                    if let Some(h) = st.arena.head(idx) {
                        reach(h.trace, &mut next, &mut order);
                    }
                }
            }
        }
        frontier = next;
        depth += 1;
    }
    (order, truncated)
}

/// For every span of `traces`, the spans linking to it.
fn backlinks(st: &State, traces: &[(TraceId, usize)]) -> FastMap<SpanRef, Vec<SpanRef>> {
    let mut out: FastMap<SpanRef, Vec<SpanRef>> = FastMap::default();
    for (t, _) in traces {
        let Some(p) = st.ix.backlinks.get(t) else {
            continue;
        };
        for &idx in p.as_slice() {
            let Some((h, blob)) = st.arena.get(idx) else {
                continue;
            };
            let from = SpanRef {
                trace_id: h.trace,
                span_id: h.span,
            };
            for (lt, ls) in compact::links(h, blob).unwrap_or_default() {
                if lt == *t {
                    let v = out
                        .entry(SpanRef {
                            trace_id: lt,
                            span_id: ls,
                        })
                        .or_default();
                    if !v.contains(&from) {
                        v.push(from);
                    }
                }
            }
        }
    }
    out
}

pub(crate) fn journey(st: &State, id: &str, opts: &JourneyOptions) -> Journey {
    let seeds = traces_carrying(st, id);
    let (traces, truncated) = expand(st, &seeds, opts);
    let links_in = backlinks(st, &traces);
    let mut spans = Vec::new();
    for (i, (t, _)) in traces.iter().enumerate() {
        for idx in st.trace_spans(t).into_iter().rev() {
            if let Some(span) = st.record(idx) {
                let key = SpanRef {
                    trace_id: span.trace_id,
                    span_id: span.span_id,
                };
                spans.push(JourneySpan {
                    trace_index: i,
                    backlinks: links_in.get(&key).cloned().unwrap_or_default(),
                    span,
                });
            }
        }
    }
    spans.sort_by_key(|s| (s.span.start_unix_nano, s.trace_index));
    Journey {
        id: id.to_owned(),
        traces: traces
            .iter()
            .map(|(t, depth)| JourneyTrace {
                trace_id: *t,
                carries_id: seeds.contains(t),
                depth: *depth,
            })
            .collect(),
        spans,
        truncated,
    }
}

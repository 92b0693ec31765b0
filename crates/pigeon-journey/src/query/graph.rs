//! The service graph: who calls or messages whom, how often, how slowly.
//!
//! An edge exists from service A to service B when a span of A is the parent of a span of B
//! (a call, or a bus hop when trace context travels with the message), or when a span of B
//! links to a span of A (a consumer that started its own trace). Each edge carries the
//! count, errors and percentiles of the child span's duration; for bus hops — a PRODUCER
//! parent (or link target) and a CONSUMER child — also the queue time: the child's
//! `pigeon.queue_time_ms` attribute if set, else child start − parent start.

use serde::{Deserialize, Serialize};

use crate::compact::{self, F_LINKS, Head};
use crate::hash::FastMap;
use crate::id::{SpanId, TraceId};
use crate::intern::Sym;
use crate::query::{TimeRange, ms, percentile};
use crate::record::SpanKind;
use crate::state::State;

/// The attribute a consumer may set with the measured time its message waited in the queue.
pub const QUEUE_TIME_ATTR: &str = "pigeon.queue_time_ms";

/// How an edge was observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// Parent span → child span in the same trace.
    Parent,
    /// Linked span → linking span, across traces.
    Link,
}

/// Count and percentiles of a set of durations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Samples.
    pub count: usize,
    /// Median, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
}

impl Percentiles {
    fn of(mut v: Vec<u64>) -> Self {
        v.sort_unstable();
        Self {
            count: v.len(),
            p50_ms: ms(percentile(&v, 50.0)),
            p99_ms: ms(percentile(&v, 99.0)),
        }
    }
}

/// One edge of the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceEdge {
    /// Calling / producing service.
    pub from: String,
    /// Called / consuming service.
    pub to: String,
    /// How it was observed.
    pub kind: EdgeKind,
    /// Child spans seen on this edge.
    pub count: usize,
    /// Of those, with error status.
    pub errors: usize,
    /// Durations of the child spans.
    pub latency: Percentiles,
    /// Queue time of bus hops (producer → consumer), if any were seen.
    pub queue_time: Option<Percentiles>,
}

/// The whole graph.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServiceGraph {
    /// Every service seen on an edge, sorted.
    pub services: Vec<String>,
    /// Edges sorted by (from, to, kind).
    pub edges: Vec<ServiceEdge>,
}

#[derive(Default)]
struct Acc {
    durations: Vec<u64>,
    errors: usize,
    queue: Vec<u64>,
}

struct Builder<'a> {
    st: &'a State,
    queue_key: Option<Sym>,
    edges: FastMap<(Sym, Sym, EdgeKind), Acc>,
}

impl Builder<'_> {
    fn add(&mut self, parent: &Head, child: &Head, child_blob: &[u8], kind: EdgeKind) {
        if parent.service == child.service {
            return;
        }
        let acc = self
            .edges
            .entry((parent.service, child.service, kind))
            .or_default();
        acc.durations.push(child.duration());
        acc.errors += usize::from(child.is_error());
        if parent.kind == SpanKind::Producer && child.kind == SpanKind::Consumer {
            let attr = self
                .queue_key
                .and_then(|k| compact::attribute(child_blob, k))
                .and_then(|v| v.as_f64(&self.st.interner))
                .filter(|v| v.is_finite() && *v >= 0.0);
            let q = match attr {
                Some(ms) => (ms * 1e6) as u64,
                None => child.start.saturating_sub(parent.start),
            };
            acc.queue.push(q);
        }
    }
}

pub(crate) fn service_graph(st: &State, range: TimeRange) -> ServiceGraph {
    let mut b = Builder {
        st,
        queue_key: st.interner.lookup(QUEUE_TIME_ATTR),
        edges: FastMap::default(),
    };
    // One pass over the heads (sequential, cheap); only spans with a parent or links look
    // anything up, by walking their trace's chain (a handful of spans).
    let find = |trace: &TraceId, span: SpanId| {
        st.trace_heads(trace)
            .map(|(_, h)| h)
            .find(|h| h.span == span)
    };
    for ci in st.arena.first_live()..st.arena.next() {
        let Some(child) = st.arena.head(ci) else {
            continue;
        };
        if !range.contains(child.start) || (child.parent().is_none() && child.flags & F_LINKS == 0)
        {
            continue;
        }
        let Some((child, blob)) = st.arena.get(ci) else {
            continue;
        };
        if let Some(parent) = child.parent().and_then(|pid| find(&child.trace, pid)) {
            b.add(parent, child, blob, EdgeKind::Parent);
        }
        if child.flags & F_LINKS != 0 {
            for (lt, ls) in compact::links(child, blob).unwrap_or_default() {
                if let Some(target) = find(&lt, ls) {
                    b.add(target, child, blob, EdgeKind::Link);
                }
            }
        }
    }
    let mut services: Vec<String> = Vec::new();
    let mut edges: Vec<ServiceEdge> = b
        .edges
        .into_iter()
        .map(|((from, to, kind), acc)| {
            let from = st.interner.resolve(from).to_owned();
            let to = st.interner.resolve(to).to_owned();
            for s in [&from, &to] {
                if !services.contains(s) {
                    services.push(s.clone());
                }
            }
            ServiceEdge {
                from,
                to,
                kind,
                count: acc.durations.len(),
                errors: acc.errors,
                latency: Percentiles::of(acc.durations),
                queue_time: (!acc.queue.is_empty()).then(|| Percentiles::of(acc.queue)),
            }
        })
        .collect();
    services.sort();
    edges.sort_by(|a, b| (&a.from, &a.to, a.kind).cmp(&(&b.from, &b.to, b.kind)));
    ServiceGraph { services, edges }
}

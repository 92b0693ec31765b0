//! Stuck journeys: messages whose flow started but never reached its terminal step.
//!
//! A [`FlowRule`] names a start span and a terminal span. For every start span older than
//! the rule's deadline, the journey around it is assembled the same way as
//! [`crate::JourneyStore::journey`] (its trace, traces carrying the same indexed ids, and
//! traces linked either way); if no span of that journey matches the terminal matcher, the
//! journey is stuck and is reported with the last step it reached: the span that started
//! last (an enclosing HTTP span may end later, but it is not a later step). Each journey is examined once per rule, however many start spans it has.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::compact;
use crate::hash::FastSet;
use crate::id::{SpanId, TraceId};
use crate::query::journey::{JourneyOptions, expand, traces_carrying};
use crate::query::matcher::SpanMatcher;
use crate::retention::duration_nanos;
use crate::state::State;

/// A flow: which span starts it, which span completes it, and how long completion may take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowRule {
    /// Flow name, e.g. `dm`.
    pub name: String,
    /// Matches the span that starts the flow.
    pub start: SpanMatcher,
    /// Matches the span that completes the flow.
    pub terminal: SpanMatcher,
    /// Time after the start span's start by which the terminal span should exist.
    pub deadline: Duration,
}

impl FlowRule {
    /// A rule.
    pub fn new(
        name: impl Into<String>,
        start: SpanMatcher,
        terminal: SpanMatcher,
        deadline: Duration,
    ) -> Self {
        Self {
            name: name.into(),
            start,
            terminal,
            deadline,
        }
    }

    /// The flows of Pigeon's own systems, with a 30 s deadline: `dm` (`messaging.send` →
    /// `messaging.delivery_receipt`) and `marker` (`publish-message` → `persist-message`).
    /// The order pipeline's terminal step depends on the deployment's kitchen service, so it
    /// is configured by the operator.
    pub fn defaults() -> Vec<Self> {
        let d = Duration::from_secs(30);
        vec![
            Self::new(
                "dm",
                SpanMatcher::name("messaging.send"),
                SpanMatcher::name("messaging.delivery_receipt"),
                d,
            ),
            Self::new(
                "marker",
                SpanMatcher::name("publish-message"),
                SpanMatcher::name("persist-message"),
                d,
            ),
        ]
    }
}

/// A point of a journey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Span name.
    pub span_name: String,
    /// Service.
    pub service: String,
    /// Its trace.
    pub trace_id: TraceId,
    /// The span.
    pub span_id: SpanId,
    /// When the step started, unix nanoseconds.
    pub start_unix_nano: u64,
    /// When the step ended, unix nanoseconds.
    pub end_unix_nano: u64,
}

/// A journey that missed its terminal step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StuckJourney {
    /// The flow rule's name.
    pub flow: String,
    /// The start span.
    pub started: Step,
    /// The step that started last: how far the journey got.
    pub last_step: Step,
    /// Time since the start, ms.
    pub waiting_ms: f64,
    /// Indexed ids the start span carries (message id, order id, …).
    pub ids: Vec<String>,
    /// Traces of the journey.
    pub traces: Vec<TraceId>,
}

fn step(st: &State, idx: u64) -> Option<Step> {
    let h = st.arena.head(idx)?;
    Some(Step {
        span_name: st.interner.resolve(h.name).to_owned(),
        service: st.interner.resolve(h.service).to_owned(),
        trace_id: h.trace,
        span_id: h.span,
        start_unix_nano: h.start,
        end_unix_nano: h.end,
    })
}

/// The texts of the indexed attribute values of span `idx`.
fn indexed_ids(st: &State, idx: u64) -> Vec<String> {
    let Some((_, blob)) = st.arena.get(idx) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for (k, v) in compact::attributes(blob).unwrap_or_default() {
        if st.is_indexed(k) {
            let text = v.to_value(&st.interner).to_text().into_owned();
            if !out.contains(&text) {
                out.push(text);
            }
        }
    }
    out
}

pub(crate) fn stuck(
    st: &State,
    rules: &[FlowRule],
    now_unix_nano: u64,
    limit: usize,
) -> Vec<StuckJourney> {
    let opts = JourneyOptions::default();
    let mut out = Vec::new();
    'rules: for rule in rules {
        let start = rule.start.compile(&st.interner);
        let terminal = rule.terminal.compile(&st.interner);
        let latest_start = now_unix_nano.saturating_sub(duration_nanos(rule.deadline));
        let mut checked: FastSet<TraceId> = FastSet::default();
        for idx in st.arena.first_live()..st.arena.next() {
            let Some(h) = st.arena.head(idx) else {
                continue;
            };
            if h.start > latest_start || !start.matches(h) || checked.contains(&h.trace) {
                continue;
            }
            let ids = indexed_ids(st, idx);
            let mut seeds = vec![h.trace];
            for id in &ids {
                for t in traces_carrying(st, id) {
                    if !seeds.contains(&t) {
                        seeds.push(t);
                    }
                }
            }
            let (traces, _) = expand(st, &seeds, &opts);
            checked.extend(traces.iter().map(|(t, _)| *t));
            let mut last: Option<((u64, u64), u64)> = None; // ((start, end), idx)
            let mut done = false;
            for (t, _) in &traces {
                for (si, sh) in st.trace_heads(t) {
                    if terminal.matches(sh) {
                        done = true;
                        break;
                    }
                    if last.is_none_or(|(at, _)| (sh.start, sh.end) > at) {
                        last = Some(((sh.start, sh.end), si));
                    }
                }
                if done {
                    break;
                }
            }
            if done {
                continue;
            }
            let (Some(started), Some(last_step)) =
                (step(st, idx), last.and_then(|(_, i)| step(st, i)))
            else {
                continue;
            };
            out.push(StuckJourney {
                flow: rule.name.clone(),
                waiting_ms: now_unix_nano.saturating_sub(started.start_unix_nano) as f64 / 1e6,
                started,
                last_step,
                ids,
                traces: traces.into_iter().map(|(t, _)| t).collect(),
            });
            if out.len() >= limit {
                break 'rules;
            }
        }
    }
    out.sort_by_key(|s| s.started.start_unix_nano);
    out
}

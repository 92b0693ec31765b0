//! The indexes over the arena, all keyed by hash and all pointing at span indices:
//!
//! * trace id → newest span of the trace (older ones are chained through
//!   `Head::prev_in_trace`, so a trace costs one map entry, not a vector);
//! * hash of an indexed attribute value → for each trace carrying it, the newest span of
//!   that trace carrying it (the journey entry point: the lists stay as short as the number
//!   of traces a message touched, usually one or two, however many spans repeat the id);
//! * linked trace id → spans that link into it (backlinks, to follow links both ways).
//!
//! Posting lists are ascending because spans are indexed in arrival order, and eviction
//! removes the oldest span first, so cleaning an evicted span is always a pop from the front.

use std::collections::hash_map::Entry;

use crate::hash::{FastMap, table_bytes};
use crate::id::TraceId;

/// The spans under one key, ascending. One entry (the common case for a message id carried
/// by a single span) costs no allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Postings {
    One(u64),
    Many(Vec<u64>),
}

impl Postings {
    fn last(&self) -> u64 {
        match self {
            Self::One(x) => *x,
            Self::Many(v) => v.last().copied().unwrap_or(u64::MAX),
        }
    }

    fn replace_last(&mut self, idx: u64) {
        match self {
            Self::One(x) => *x = idx,
            Self::Many(v) => {
                if let Some(l) = v.last_mut() {
                    *l = idx;
                }
            }
        }
    }

    fn push(&mut self, idx: u64) {
        match self {
            Self::One(x) if *x == idx => {}
            Self::One(x) => *self = Self::Many(vec![*x, idx]),
            Self::Many(v) => {
                if v.last() != Some(&idx) {
                    v.push(idx);
                }
            }
        }
    }

    /// Removes `idx` if it is the first entry; true when the list is then empty.
    fn remove_front(&mut self, idx: u64) -> bool {
        match self {
            Self::One(x) => *x == idx,
            Self::Many(v) => {
                if v.first() == Some(&idx) {
                    v.remove(0);
                }
                if v.len() == 1 {
                    *self = Self::One(v[0]);
                }
                v_is_empty(self)
            }
        }
    }

    /// The entries.
    pub(crate) fn as_slice(&self) -> &[u64] {
        match self {
            Self::One(x) => std::slice::from_ref(x),
            Self::Many(v) => v,
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Self::One(_) => 0,
            Self::Many(v) => v.capacity() * 8,
        }
    }
}

fn v_is_empty(p: &Postings) -> bool {
    matches!(p, Postings::Many(v) if v.is_empty())
}

/// All indexes.
#[derive(Debug, Default)]
pub(crate) struct Indexes {
    /// Trace id → newest span index of the trace.
    pub(crate) traces: FastMap<TraceId, u64>,
    /// Hash of an indexed value → spans carrying it.
    pub(crate) values: FastMap<u64, Postings>,
    /// Trace id → spans (of any trace) that link to a span of it.
    pub(crate) backlinks: FastMap<TraceId, Postings>,
    /// Heap bytes of `Many` posting lists, kept up to date for accounting.
    postings_heap: usize,
}

impl Indexes {
    /// Records that span `idx` of `trace` is the newest of its trace; returns the previous
    /// newest, to chain.
    pub(crate) fn add_span(&mut self, trace: TraceId, idx: u64) -> Option<u64> {
        self.traces.insert(trace, idx)
    }

    /// Indexes span `idx` under value `hash`. If the newest entry is a span of the same
    /// trace (`same_trace(entry)`), it is replaced rather than appended: an entry stands for
    /// "this trace carries the value, most recently at this span". Entries stay ascending, so
    /// eviction still pops from the front.
    pub(crate) fn add_value(&mut self, hash: u64, idx: u64, same_trace: impl Fn(u64) -> bool) {
        match self.values.entry(hash) {
            Entry::Occupied(mut o) => {
                let p = o.get_mut();
                if same_trace(p.last()) {
                    p.replace_last(idx);
                } else {
                    let before = p.heap_bytes();
                    p.push(idx);
                    self.postings_heap = self.postings_heap + p.heap_bytes() - before;
                }
            }
            Entry::Vacant(v) => {
                v.insert(Postings::One(idx));
            }
        }
    }

    pub(crate) fn add_backlink(&mut self, target: TraceId, idx: u64) {
        match self.backlinks.get_mut(&target) {
            Some(p) => {
                let before = p.heap_bytes();
                p.push(idx);
                self.postings_heap = self.postings_heap + p.heap_bytes() - before;
            }
            None => {
                self.backlinks.insert(target, Postings::One(idx));
            }
        }
    }

    /// Removes the oldest span `idx` from the trace index.
    pub(crate) fn remove_span(&mut self, trace: TraceId, idx: u64) {
        if self.traces.get(&trace) == Some(&idx) {
            self.traces.remove(&trace);
        }
    }

    pub(crate) fn remove_value(&mut self, hash: u64, idx: u64) {
        if let Some(p) = self.values.get_mut(&hash) {
            let before = p.heap_bytes();
            let empty = p.remove_front(idx);
            self.postings_heap = self.postings_heap + p.heap_bytes() - before;
            if empty {
                self.values.remove(&hash);
            }
        }
    }

    pub(crate) fn remove_backlink(&mut self, target: TraceId, idx: u64) {
        if let Some(p) = self.backlinks.get_mut(&target) {
            let before = p.heap_bytes();
            let empty = p.remove_front(idx);
            self.postings_heap = self.postings_heap + p.heap_bytes() - before;
            if empty {
                self.backlinks.remove(&target);
            }
        }
    }

    /// Heap bytes held by the maps and posting lists.
    pub(crate) fn heap_bytes(&self) -> usize {
        table_bytes(
            self.traces.capacity(),
            std::mem::size_of::<(TraceId, u64)>(),
        ) + table_bytes(
            self.values.capacity(),
            std::mem::size_of::<(u64, Postings)>(),
        ) + table_bytes(
            self.backlinks.capacity(),
            std::mem::size_of::<(TraceId, Postings)>(),
        ) + self.postings_heap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postings_push_dedupes_and_pop_from_front() {
        let mut ix = Indexes::default();
        let other = |_| false;
        ix.add_value(1, 10, other);
        ix.add_value(1, 10, other);
        ix.add_value(1, 12, other);
        ix.add_value(1, 15, other);
        ix.add_value(2, 3, other);
        ix.add_value(2, 4, |i| i == 3);
        assert_eq!(ix.values[&2], Postings::One(4), "same trace: replaced");
        assert_eq!(ix.values[&1].as_slice(), &[10, 12, 15]);
        ix.remove_value(1, 10);
        ix.remove_value(1, 99); // not the front: ignored
        assert_eq!(ix.values[&1].as_slice(), &[12, 15]);
        ix.remove_value(1, 12);
        assert_eq!(ix.values[&1], Postings::One(15));
        ix.remove_value(1, 15);
        ix.remove_value(2, 3);
        ix.remove_value(2, 4);
        assert!(ix.values.is_empty());
        assert_eq!(ix.postings_heap, 0);
    }

    #[test]
    fn trace_entry_goes_with_its_newest_span() {
        let mut ix = Indexes::default();
        let t = TraceId([1; 16]);
        assert_eq!(ix.add_span(t, 1), None);
        assert_eq!(ix.add_span(t, 4), Some(1));
        ix.remove_span(t, 1);
        assert_eq!(ix.traces.get(&t), Some(&4));
        ix.remove_span(t, 4);
        assert!(ix.traces.is_empty());
    }
}

//! The store's state behind its lock: the arena, the indexes and the tables they refer to,
//! with the two operations that must keep them consistent — insert a span and evict the
//! oldest — and the read helpers the queries share.

use crate::arena::Arena;
use crate::compact::{self, Encoder, Head, NO_SPAN, Resources, ValueRef};
use crate::hash::hash_text;
use crate::id::TraceId;
use crate::index::Indexes;
use crate::intern::{Interner, Sym};
use crate::record::SpanRecord;

/// Index share accounted per span for retention by bytes (trace map entry, value and
/// backlink postings, amortised).
const INDEX_SHARE: usize = 48;

/// Everything behind the store's `RwLock`.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) arena: Arena,
    pub(crate) ix: Indexes,
    pub(crate) interner: Interner,
    pub(crate) resources: Resources,
    /// `indexed[sym]`: is attribute key `sym` indexed?
    indexed: Vec<bool>,
    /// The indexed keys, by name and symbol.
    pub(crate) indexed_keys: Vec<(String, Sym)>,
    /// Accounted bytes of live spans (see [`State::cost`]).
    pub(crate) bytes: usize,
    pub(crate) evicted: u64,
    /// Spans replayed from disk at open.
    pub(crate) replayed: u64,
    scratch: Vec<u8>,
    hashes: Vec<u64>,
}

impl State {
    pub(crate) fn new(indexed_keys: &[String], value_intern_cap: usize) -> Self {
        let mut interner = Interner::new(value_intern_cap);
        let keys: Vec<(String, Sym)> = indexed_keys
            .iter()
            .map(|k| (k.clone(), interner.intern(k)))
            .collect();
        let mut indexed = Vec::new();
        for (_, s) in &keys {
            let i = s.0 as usize;
            if indexed.len() <= i {
                indexed.resize(i + 1, false);
            }
            indexed[i] = true;
        }
        Self {
            arena: Arena::default(),
            ix: Indexes::default(),
            interner,
            resources: Resources::default(),
            indexed,
            indexed_keys: keys,
            bytes: 0,
            evicted: 0,
            replayed: 0,
            scratch: Vec::new(),
            hashes: Vec::new(),
        }
    }

    /// Bytes a span counts against the retention budget.
    fn cost(head: &Head) -> usize {
        std::mem::size_of::<Head>() + head.blob_len as usize + INDEX_SHARE
    }

    pub(crate) fn is_indexed(&self, key: Sym) -> bool {
        self.indexed.get(key.0 as usize).copied().unwrap_or(false)
    }

    /// Stores one span and indexes it; returns its index.
    pub(crate) fn insert(&mut self, rec: &SpanRecord) -> u64 {
        let idx = self.arena.next();
        let prev = self.ix.add_span(rec.trace_id, idx).unwrap_or(NO_SPAN);
        self.hashes.clear();
        let mut enc = Encoder {
            interner: &mut self.interner,
            resources: &mut self.resources,
            indexed: &self.indexed,
            scratch: &mut self.scratch,
        };
        let hashes = &mut self.hashes;
        let mut cost = 0;
        self.arena.push(|blob| {
            let mut head = enc.encode(rec, blob, hashes);
            head.prev_in_trace = prev;
            cost = Self::cost(&head);
            head
        });
        self.bytes += cost;
        let arena = &self.arena;
        let same_trace = |i: u64| arena.head(i).is_some_and(|h| h.trace == rec.trace_id);
        for h in &self.hashes {
            self.ix.add_value(*h, idx, same_trace);
        }
        for link in &rec.links {
            self.ix.add_backlink(link.trace_id, idx);
        }
        idx
    }

    /// Evicts the oldest live span, cleaning every index entry that points at it.
    pub(crate) fn evict_front(&mut self) {
        let idx = self.arena.first_live();
        let Some((head, blob)) = self.arena.get(idx) else {
            return;
        };
        let mut hashes: Vec<u64> = Vec::new();
        if let Ok(attrs) = compact::attributes(blob) {
            for (key, value) in attrs {
                if self.is_indexed(key) {
                    let h = value_hash(value, &self.interner);
                    if !hashes.contains(&h) {
                        hashes.push(h);
                    }
                }
            }
        }
        let links = compact::links(head, blob).unwrap_or_default();
        let trace = head.trace;
        self.bytes = self.bytes.saturating_sub(Self::cost(head));
        for h in hashes {
            self.ix.remove_value(h, idx);
        }
        for (t, _) in links {
            self.ix.remove_backlink(t, idx);
        }
        self.ix.remove_span(trace, idx);
        self.arena.pop_front();
        self.evicted += 1;
    }

    /// Live spans of a trace with their heads, newest first, without allocating.
    pub(crate) fn trace_heads(&self, trace: &TraceId) -> impl Iterator<Item = (u64, &Head)> {
        let mut cur = self.ix.traces.get(trace).copied().unwrap_or(NO_SPAN);
        std::iter::from_fn(move || {
            let idx = cur;
            let head = self.arena.head(idx)?;
            cur = head.prev_in_trace;
            Some((idx, head))
        })
    }

    /// Live span indices of a trace, newest first.
    pub(crate) fn trace_spans(&self, trace: &TraceId) -> Vec<u64> {
        self.trace_heads(trace).map(|(i, _)| i).collect()
    }

    /// The full record of a live span.
    pub(crate) fn record(&self, idx: u64) -> Option<SpanRecord> {
        let (head, blob) = self.arena.get(idx)?;
        compact::decode(head, blob, &self.interner, &self.resources).ok()
    }

    /// Does span `idx` carry `text` as the value of an indexed key (of `key`, if given)?
    pub(crate) fn carries(&self, idx: u64, key: Option<Sym>, text: &str) -> bool {
        let Some((_, blob)) = self.arena.get(idx) else {
            return false;
        };
        compact::attributes(blob).is_ok_and(|attrs| {
            attrs.iter().any(|(k, v)| {
                key.map_or(self.is_indexed(*k), |want| *k == want)
                    && v.text_eq(text, &self.interner)
            })
        })
    }

    /// Does some span of `trace` carry `text` under `key`? (The value index keeps one span
    /// per trace, which may carry the value under another indexed key.)
    pub(crate) fn trace_carries(&self, trace: &TraceId, key: Sym, text: &str) -> bool {
        self.trace_spans(trace)
            .into_iter()
            .any(|i| self.carries(i, Some(key), text))
    }

    /// Heap bytes of everything the store holds in memory.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.arena.heap_bytes()
            + self.ix.heap_bytes()
            + self.interner.heap_bytes()
            + self.resources.heap_bytes()
    }
}

/// The index hash of a stored value (the same as `hash_text` of its text form at insert).
pub(crate) fn value_hash(value: ValueRef<'_>, interner: &Interner) -> u64 {
    match value {
        ValueRef::Str(s) => hash_text(s),
        ValueRef::Sym(s) => hash_text(interner.resolve(s)),
        other => hash_text(&other.to_value(interner).to_text()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SpanId;
    use crate::record::{KeyValue, Link};

    fn span(t: u8, s: u8, mid: &str) -> SpanRecord {
        SpanRecord {
            trace_id: TraceId([t; 16]),
            span_id: SpanId([s; 8]),
            name: "op".into(),
            service: "svc".into(),
            attributes: vec![
                KeyValue::new("message.id", mid),
                KeyValue::new("messaging.message.id", mid),
            ],
            links: vec![Link {
                trace_id: TraceId([99; 16]),
                span_id: SpanId([1; 8]),
                attributes: vec![],
            }],
            ..SpanRecord::default()
        }
    }

    #[test]
    fn insert_then_evict_everything_leaves_empty_indexes() {
        let mut st = State::new(&["message.id".into(), "messaging.message.id".into()], 10);
        for i in 0..20u8 {
            st.insert(&span(i % 3, i, &format!("m{}", i % 4)));
        }
        assert_eq!(st.trace_spans(&TraceId([0; 16])).len(), 7);
        assert!(st.carries(0, None, "m0"));
        assert!(!st.carries(0, None, "m1"));
        assert!(st.bytes > 0);
        for _ in 0..20 {
            st.evict_front();
        }
        assert!(st.ix.traces.is_empty());
        assert!(st.ix.values.is_empty());
        assert!(st.ix.backlinks.is_empty());
        assert_eq!(st.bytes, 0);
        assert_eq!(st.arena.len(), 0);
    }
}

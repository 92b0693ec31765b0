//! [`JourneyStore`]: the public face. It ties the ingest queue, the locked state, retention
//! and persistence together and answers queries.
//!
//! Concurrency: producers only touch the queue (never blocked). Draining — by a
//! [`Drainer`] thread or an explicit [`JourneyStore::drain`] — takes the state's write lock
//! for the time it takes to encode one shard's batch; queries take the read lock, so they
//! run in parallel with each other and see every drained span. Everything is synchronous
//! (short critical sections on a std `RwLock`), so the store works the same with or without
//! an async runtime.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::config::StoreConfig;
use crate::error::{OpenError, PersistError, QueryError};
use crate::id::TraceId;
use crate::ingest::{IngestQueue, Ingestor};
use crate::persist::Persister;
use crate::query::{self, FlowRule, Journey, JourneyOptions, LatencyStats, ServiceGraph};
use crate::query::{StuckJourney, TimeRange, TraceQuery, TraceSummary};
use crate::record::SpanRecord;
use crate::state::State;

/// The span store. Cheap to clone (all clones share one store).
#[derive(Debug, Clone)]
pub struct JourneyStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    queue: Arc<IngestQueue>,
    state: RwLock<State>,
    /// Serialises drains and owns the segment writer.
    drain: Mutex<Option<Persister>>,
    config: StoreConfig,
}

/// Counters and sizes, for `/metrics` and the bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    /// Spans held.
    pub spans: u64,
    /// Traces held.
    pub traces: u64,
    /// Bytes counted against the retention budget.
    pub accounted_bytes: u64,
    /// Heap bytes actually reserved by the arena, indexes and tables (capacities).
    pub heap_bytes: u64,
    /// Spans accepted by the ingest queue since open.
    pub accepted: u64,
    /// Spans dropped because the ingest queue was full.
    pub dropped: u64,
    /// Spans evicted by retention since open.
    pub evicted: u64,
    /// Spans replayed from the data dir at open.
    pub replayed: u64,
}

/// Now, in unix nanoseconds.
pub fn now_unix_nano() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl JourneyStore {
    /// Opens a store; with a data dir, replays the persisted spans first (applying retention).
    pub fn open(config: StoreConfig) -> Result<Self, OpenError> {
        let mut state = State::new(&config.indexed_keys, config.value_intern_cap);
        let mut persister = None;
        let mut replayed = 0;
        if let Some(dir) = &config.data_dir {
            let now = now_unix_nano();
            let (mut p, stats) = Persister::open(dir, config.segment_bytes, |rec| {
                let idx = state.insert(&rec);
                // Keep replay within the budget as it goes, not only at the end.
                if idx.is_multiple_of(65_536) {
                    state.enforce(&config.retention, now);
                }
                idx
            })?;
            replayed = stats.spans;
            if stats.truncated_bytes > 0 {
                tracing::warn!(
                    dir = %dir.display(),
                    bytes = stats.truncated_bytes,
                    "journey store: cut a torn tail off a segment"
                );
            }
            state.enforce(&config.retention, now_unix_nano());
            p.evict_before(state.arena.first_live())
                .map_err(|e| OpenError::Io {
                    path: e.path,
                    source: e.source,
                })?;
            persister = Some(p);
        }
        state.evicted = 0;
        let queue = Arc::new(IngestQueue::new(
            config.ingest_capacity,
            config.ingest_shards,
        ));
        let store = Self {
            inner: Arc::new(Inner {
                queue,
                state: RwLock::new(state),
                drain: Mutex::new(persister),
                config,
            }),
        };
        store.write().replayed = replayed;
        Ok(store)
    }

    /// A memory-only store with the default configuration.
    pub fn in_memory() -> Self {
        Self::in_memory_with(StoreConfig {
            data_dir: None,
            ..StoreConfig::default()
        })
    }

    /// A memory-only store (`config.data_dir` is ignored).
    pub fn in_memory_with(config: StoreConfig) -> Self {
        let state = State::new(&config.indexed_keys, config.value_intern_cap);
        let queue = Arc::new(IngestQueue::new(
            config.ingest_capacity,
            config.ingest_shards,
        ));
        Self {
            inner: Arc::new(Inner {
                queue,
                state: RwLock::new(state),
                drain: Mutex::new(None),
                config: StoreConfig {
                    data_dir: None,
                    ..config
                },
            }),
        }
    }

    /// The configuration the store runs with.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.inner
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A handle for producers.
    pub fn ingestor(&self) -> Ingestor {
        Ingestor {
            queue: self.inner.queue.clone(),
        }
    }

    /// Queues a batch (never blocks; overflow is dropped and counted). Spans become visible
    /// to queries after the next drain.
    pub fn ingest(&self, batch: Vec<SpanRecord>) -> usize {
        self.ingestor().ingest(batch)
    }

    /// Spans dropped because the ingest queue was full.
    pub fn dropped(&self) -> u64 {
        self.inner.queue.dropped()
    }

    /// Moves everything queued into the store, persists it (with a data dir) and applies
    /// retention. Returns how many spans were stored. On a persistence error the spans are
    /// still stored in memory; the first error is returned.
    pub fn drain(&self) -> Result<usize, PersistError> {
        self.drain_at(now_unix_nano())
    }

    fn drain_at(&self, now: u64) -> Result<usize, PersistError> {
        let mut persist = self
            .inner
            .drain
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut first_err = None;
        let mut total = 0;
        for shard in 0..self.inner.queue.shard_count() {
            for batch in self.inner.queue.take_shard(shard).into_batches() {
                if let Some(p) = persist.as_mut() {
                    // Drains are serialised by `persist`, so nobody else assigns indices now.
                    let base = self.read().arena.next();
                    for (k, rec) in batch.iter().enumerate() {
                        if let Err(e) = p.append(rec, base + k as u64) {
                            first_err.get_or_insert(e);
                            break;
                        }
                    }
                }
                let mut st = self.write();
                for rec in &batch {
                    st.insert(rec);
                }
                drop(st);
                total += batch.len();
                // Its spans are freed outside the lock; the vector goes back to the producers.
                self.inner.queue.recycle(batch);
            }
        }
        let first_live = {
            let mut st = self.write();
            st.enforce(&self.inner.config.retention, now);
            st.arena.first_live()
        };
        if let Some(p) = persist.as_mut() {
            if let Err(e) = p.flush() {
                first_err.get_or_insert(e);
            }
            if let Err(e) = p.evict_before(first_live) {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }

    /// Applies retention as if the time were `now_unix_nano` (for tools and tests; drains do
    /// this with the real clock). Returns how many spans were evicted.
    pub fn enforce_retention_at(&self, now_unix_nano: u64) -> Result<u64, PersistError> {
        let mut persist = self
            .inner
            .drain
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (evicted, first_live) = {
            let mut st = self.write();
            let n = st.enforce(&self.inner.config.retention, now_unix_nano);
            (n, st.arena.first_live())
        };
        if let Some(p) = persist.as_mut() {
            p.evict_before(first_live)?;
        }
        Ok(evicted)
    }

    /// Starts a thread that drains every `every` (sooner under load). It stops when the
    /// returned [`Drainer`] is dropped.
    pub fn spawn_drainer(&self, every: Duration) -> std::io::Result<Drainer> {
        let stop = Arc::new(AtomicBool::new(false));
        let store = self.clone();
        let flag = stop.clone();
        let busy = (self.inner.config.ingest_capacity / 8).max(1);
        let thread = std::thread::Builder::new()
            .name("journey-drain".into())
            .spawn(move || {
                let mut failing = false;
                while !flag.load(Ordering::Acquire) {
                    match store.drain() {
                        Ok(n) => {
                            failing = false;
                            if n >= busy {
                                continue;
                            }
                        }
                        Err(e) => {
                            if !failing {
                                tracing::warn!(error = %e, "journey store: persisting spans failed");
                            }
                            failing = true;
                        }
                    }
                    std::thread::park_timeout(every);
                }
                // Last drain so nothing accepted is left behind.
                let _ = store.drain();
            })?;
        Ok(Drainer {
            stop,
            thread: Some(thread),
        })
    }

    /// Counters and sizes.
    pub fn stats(&self) -> StoreStats {
        let st = self.read();
        StoreStats {
            spans: st.arena.len(),
            traces: st.ix.traces.len() as u64,
            accounted_bytes: st.bytes as u64,
            heap_bytes: st.heap_bytes() as u64,
            accepted: self.inner.queue.accepted(),
            dropped: self.inner.queue.dropped(),
            evicted: st.evicted,
            replayed: st.replayed,
        }
    }

    /// Every stored span of a trace, by start time.
    pub fn trace(&self, trace_id: TraceId) -> Vec<SpanRecord> {
        query::trace(&self.read(), trace_id)
    }

    /// Traces with a span whose attribute `key` (an indexed key) equals `value`, newest
    /// first, at most `limit`.
    pub fn find_by_attribute(
        &self,
        key: &str,
        value: &str,
        limit: usize,
    ) -> Result<Vec<TraceSummary>, QueryError> {
        query::find_by_attribute(&self.read(), key, value, limit)
    }

    /// The journey of a message: every trace carrying `id` in an indexed key, plus traces
    /// linked to or from those (transitively, bounded by `options`), as one timeline.
    pub fn journey(&self, id: &str, options: &JourneyOptions) -> Journey {
        query::journey(&self.read(), id, options)
    }

    /// Recent traces matching `q`, newest first.
    pub fn search(&self, q: &TraceQuery) -> Vec<TraceSummary> {
        query::search(&self.read(), q)
    }

    /// Latency percentiles per (service, span name) over spans starting in `range`.
    pub fn latency(&self, range: TimeRange) -> Vec<LatencyStats> {
        query::latency(&self.read(), range)
    }

    /// The service graph over spans starting in `range`.
    pub fn service_graph(&self, range: TimeRange) -> ServiceGraph {
        query::service_graph(&self.read(), range)
    }

    /// Journeys started by a flow's start span more than its deadline before `now_unix_nano`
    /// that never reached the flow's terminal span; at most `limit`, oldest first.
    pub fn stuck(&self, rules: &[FlowRule], now_unix_nano: u64, limit: usize) -> Vec<StuckJourney> {
        query::stuck(&self.read(), rules, now_unix_nano, limit)
    }
}

/// The background drain thread; dropping it drains one last time and joins the thread.
#[derive(Debug)]
pub struct Drainer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drainer {
    /// Stops the thread and waits for it (same as dropping).
    pub fn stop(self) {}
}

impl Drop for Drainer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<JourneyStore>();
        assert_send_sync::<Ingestor>();
    }

    #[test]
    fn drained_spans_are_visible_and_counted() {
        let store = JourneyStore::in_memory();
        let now = now_unix_nano();
        let span = SpanRecord {
            trace_id: TraceId([1; 16]),
            start_unix_nano: now,
            end_unix_nano: now,
            ..SpanRecord::default()
        };
        assert_eq!(store.ingest(vec![span.clone()]), 1);
        assert!(
            store.trace(TraceId([1; 16])).is_empty(),
            "not before a drain"
        );
        assert_eq!(store.drain().unwrap(), 1);
        assert_eq!(store.trace(TraceId([1; 16])), vec![span]);
        let stats = store.stats();
        assert_eq!((stats.spans, stats.traces, stats.accepted), (1, 1, 1));
        assert!(stats.heap_bytes > 0 && stats.accounted_bytes > 0);
    }
}

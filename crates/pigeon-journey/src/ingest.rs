//! The ingest queue: producers hand over spans without ever waiting for the store.
//!
//! Spans arrive from the SDK span processor on application threads, so ingest must never
//! block them behind a query or a drain. The queue is split into shards, each a short
//! `Mutex` over the batches handed in, with a fixed capacity in spans. A producer *tries* its
//! own shard (chosen per thread) and then the others; it never waits on a lock. When every
//! shard is full or busy the spans are dropped and counted (policy "drop and count", like the
//! OpenTelemetry batch processor), visible as [`Ingestor::dropped`]. The store drains a shard
//! by swapping its list of batches out, which keeps each critical section to a pointer swap.
//!
//! A shard keeps each batch as the vector it came in, and batch vectors go round instead of
//! being made and freed per batch: the store gives each drained vector back emptied
//! ([`IngestQueue::recycle`]), and a producer that hands one over gets a kept one in exchange
//! ([`Ingestor::ingest_from`]). Before, a shard gathered every batch of a drain interval into
//! one vector that grew by doubling to megabytes; made fresh on one thread and freed on
//! another, the allocator took fresh pages from the kernel for it each time, and zeroing them
//! (2 MiB at a time with transparent huge pages) was ~5 % of `pigeon serve`'s CPU in
//! `pigeon bench dm`.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use crate::record::SpanRecord;

/// Emptied batch vectors kept for reuse: at most this many (a drain interval's batches from
/// a busy span sink)...
const MAX_SPARES: usize = 64;
/// ...and none with room for more than this many spans (~256 KiB), so a burst leaves no
/// large buffers behind.
const SPARE_MAX_SPANS: usize = 1024;

/// What one shard holds: the batches handed in since the last drain.
#[derive(Debug, Default)]
pub(crate) struct Batches {
    batches: Vec<Vec<SpanRecord>>,
    spans: usize,
}

impl Batches {
    /// The batches, oldest first.
    pub(crate) fn into_batches(self) -> Vec<Vec<SpanRecord>> {
        self.batches
    }

    fn add(&mut self, batch: Vec<SpanRecord>) {
        self.spans += batch.len();
        self.batches.push(batch);
    }
}

#[derive(Debug, Default)]
struct Shard {
    queued: Mutex<Batches>,
}

/// The shared queue between [`Ingestor`]s and the store.
#[derive(Debug)]
pub(crate) struct IngestQueue {
    shards: Box<[Shard]>,
    per_shard: usize,
    accepted: AtomicU64,
    dropped: AtomicU64,
    next_shard: AtomicUsize,
    spares: Mutex<Vec<Vec<SpanRecord>>>,
}

thread_local! {
    static SHARD_HINT: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn try_lock(m: &Mutex<Batches>) -> Option<MutexGuard<'_, Batches>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        // A panic while holding the lock cannot leave the list half-updated in a way we care
        // about: keep using it.
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

impl IngestQueue {
    /// A queue holding at most `capacity` spans over `shards` shards.
    pub(crate) fn new(capacity: usize, shards: usize) -> Self {
        let shards = shards.max(1);
        Self {
            shards: (0..shards).map(|_| Shard::default()).collect(),
            per_shard: capacity.div_ceil(shards).max(1),
            accepted: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            next_shard: AtomicUsize::new(0),
            spares: Mutex::new(Vec::new()),
        }
    }

    fn home_shard(&self) -> usize {
        SHARD_HINT.with(|h| {
            let mut v = h.get();
            if v == usize::MAX {
                v = self.next_shard.fetch_add(1, Ordering::Relaxed);
                h.set(v);
            }
            v % self.shards.len()
        })
    }

    /// Enqueues what fits of `batch` and leaves it empty (without room when it was handed
    /// over whole); returns how many spans were accepted.
    pub(crate) fn push(&self, batch: &mut Vec<SpanRecord>) -> usize {
        let total = batch.len();
        if total == 0 {
            return 0;
        }
        let home = self.home_shard();
        let n = self.shards.len();
        // Two rounds: a shard that was busy in the first (another producer or the drainer
        // mid-swap, a few hundred nanoseconds) is usually free in the second.
        'rounds: for round in 0..2 {
            let mut busy = false;
            for k in 0..n {
                let shard = &self.shards[(home + k) % n];
                let Some(mut q) = try_lock(&shard.queued) else {
                    busy = true;
                    continue;
                };
                let room = self.per_shard.saturating_sub(q.spans);
                if room == 0 {
                    continue;
                }
                if batch.len() <= room {
                    // The common case: the whole vector is handed over, nothing is copied.
                    q.add(std::mem::take(batch));
                    break 'rounds;
                }
                // Only part fits: the head goes here, the rest on to the next shard.
                let rest = batch.split_off(room);
                q.add(std::mem::replace(batch, rest));
            }
            if !busy {
                break; // every shard is full: no point in another round
            }
            if round == 0 {
                std::hint::spin_loop();
            }
        }
        let dropped = batch.len();
        batch.clear();
        if dropped > 0 {
            let before = self.dropped.fetch_add(dropped as u64, Ordering::Relaxed);
            if before == 0 {
                tracing::warn!(
                    dropped,
                    "journey store ingest queue full: dropping spans (counted from now on)"
                );
            }
        }
        let accepted = total - dropped;
        self.accepted.fetch_add(accepted as u64, Ordering::Relaxed);
        accepted
    }

    /// [`IngestQueue::push`], then, when `batch` was handed over, a kept vector in its place
    /// to fill again.
    pub(crate) fn push_and_refill(&self, batch: &mut Vec<SpanRecord>) -> usize {
        let accepted = self.push(batch);
        if batch.capacity() == 0
            && let Some(spare) = self.lock_spares().pop()
        {
            *batch = spare;
        }
        accepted
    }

    /// Takes everything queued in shard `i` (nothing if out of range). Give each batch back
    /// with [`IngestQueue::recycle`] once done with it.
    pub(crate) fn take_shard(&self, i: usize) -> Batches {
        let Some(shard) = self.shards.get(i) else {
            return Batches::default();
        };
        let mut q = shard
            .queued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::take(&mut *q)
    }

    /// Empties a drained batch (dropping its spans) and keeps the vector for a producer,
    /// unless enough are kept or it is too large to keep.
    pub(crate) fn recycle(&self, mut batch: Vec<SpanRecord>) {
        batch.clear();
        if batch.capacity() == 0 || batch.capacity() > SPARE_MAX_SPANS {
            return;
        }
        let mut spares = self.lock_spares();
        if spares.len() < MAX_SPARES {
            spares.push(batch);
        }
    }

    fn lock_spares(&self) -> MutexGuard<'_, Vec<Vec<SpanRecord>>> {
        self.spares
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn shard_count(&self) -> usize {
        self.shards.len()
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub(crate) fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

/// A cheap, cloneable handle for producers: hands spans to the store's bounded queue and
/// never blocks. Get one from [`crate::JourneyStore::ingestor`].
#[derive(Debug, Clone)]
pub struct Ingestor {
    pub(crate) queue: Arc<IngestQueue>,
}

impl Ingestor {
    /// Queues a batch. Spans that do not fit are dropped and counted; returns how many were
    /// accepted.
    pub fn ingest(&self, mut batch: Vec<SpanRecord>) -> usize {
        let accepted = self.queue.push(&mut batch);
        self.queue.recycle(batch);
        accepted
    }

    /// Queues every span of `batch`, as [`Ingestor::ingest`] does, and leaves `batch` empty,
    /// holding a vector the store has finished with when there is one: a producer that fills
    /// the same `batch` again and again makes no batch vectors once the queue's go round.
    pub fn ingest_from(&self, batch: &mut Vec<SpanRecord>) -> usize {
        self.queue.push_and_refill(batch)
    }

    /// Queues one span; false if it was dropped.
    pub fn ingest_one(&self, span: SpanRecord) -> bool {
        self.ingest(vec![span]) == 1
    }

    /// Spans dropped because the queue was full, since the store was opened.
    pub fn dropped(&self) -> u64 {
        self.queue.dropped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(n: usize) -> Vec<SpanRecord> {
        vec![SpanRecord::default(); n]
    }

    /// `IngestQueue::push` of an owned batch.
    fn push(q: &IngestQueue, mut batch: Vec<SpanRecord>) -> usize {
        q.push(&mut batch)
    }

    /// Spans queued in shard `i`, taken out.
    fn drained(q: &IngestQueue, i: usize) -> usize {
        q.take_shard(i).into_batches().iter().map(Vec::len).sum()
    }

    #[test]
    fn full_queue_drops_and_counts() {
        let q = IngestQueue::new(10, 2);
        assert_eq!(push(&q, spans(4)), 4);
        assert_eq!(push(&q, spans(4)), 4);
        assert_eq!(push(&q, spans(4)), 2, "only two places left");
        assert_eq!(q.dropped(), 2);
        assert_eq!(push(&q, spans(1)), 0);
        assert_eq!(q.dropped(), 3);
        assert_eq!(q.accepted(), 10);
        let total: usize = (0..q.shard_count()).map(|i| drained(&q, i)).sum();
        assert_eq!(total, 10);
        assert_eq!(push(&q, spans(3)), 3, "room again after a drain");
    }

    #[test]
    fn busy_shard_is_skipped_not_waited_for() {
        let q = IngestQueue::new(10, 2);
        let home = q.home_shard();
        let _held = q.shards[home].queued.lock().unwrap();
        assert_eq!(push(&q, spans(3)), 3);
        assert_eq!(q.shards[(home + 1) % 2].queued.try_lock().unwrap().spans, 3);
    }

    #[test]
    fn batch_vectors_go_round_instead_of_being_made_anew() {
        let q = IngestQueue::new(1000, 1);
        let mut buffer = Vec::with_capacity(64);
        buffer.extend(spans(10));
        let first = buffer.as_ptr();
        assert_eq!(q.push(&mut buffer), 10);
        assert_eq!(q.push(&mut spans(3)), 3);
        assert!(buffer.is_empty());
        // The store drains the shard: each batch as it came, in order...
        let batches = q.take_shard(0).into_batches();
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [10, 3]);
        assert_eq!(batches[0].as_ptr(), first, "handed over, not copied");
        // ...and gives them back emptied; the next producer to hand a batch over gets one.
        for batch in batches {
            q.recycle(batch);
        }
        buffer.extend(spans(5));
        assert_eq!(q.push_and_refill(&mut buffer), 5);
        assert!(buffer.is_empty());
        assert!(buffer.capacity() >= 3, "a kept vector came back to fill");
    }

    #[test]
    fn a_batch_that_does_not_fit_is_cut_and_still_comes_back_empty() {
        let q = IngestQueue::new(2, 1);
        let mut over = spans(3);
        assert_eq!(q.push(&mut over), 2);
        assert!(over.is_empty());
        assert_eq!(q.dropped(), 1);
        assert_eq!(drained(&q, 0), 2);
    }

    #[test]
    fn oversized_vectors_are_not_kept() {
        let q = IngestQueue::new(10, 1);
        q.recycle(Vec::with_capacity(SPARE_MAX_SPANS + 1));
        q.recycle(Vec::new());
        assert!(q.lock_spares().is_empty());
        for _ in 0..MAX_SPARES + 1 {
            q.recycle(Vec::with_capacity(8));
        }
        assert_eq!(q.lock_spares().len(), MAX_SPARES);
    }
}

//! The ingest queue: producers hand over spans without ever waiting for the store.
//!
//! Spans arrive from the SDK span processor on application threads, so ingest must never
//! block them behind a query or a drain. The queue is split into shards, each a short
//! `Mutex<Vec<SpanRecord>>` with a fixed capacity. A producer *tries* its own shard (chosen
//! per thread) and then the others; it never waits on a lock. When every shard is full or
//! busy the spans are dropped and counted (policy "drop and count", like the OpenTelemetry
//! batch processor), visible as [`Ingestor::dropped`]. The store drains a shard by swapping its
//! vector out, which keeps each critical section to a pointer swap.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use crate::record::SpanRecord;

#[derive(Debug, Default)]
struct Shard {
    spans: Mutex<Vec<SpanRecord>>,
}

/// The shared queue between [`Ingestor`]s and the store.
#[derive(Debug)]
pub(crate) struct IngestQueue {
    shards: Box<[Shard]>,
    per_shard: usize,
    accepted: AtomicU64,
    dropped: AtomicU64,
    next_shard: AtomicUsize,
}

thread_local! {
    static SHARD_HINT: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn try_lock(m: &Mutex<Vec<SpanRecord>>) -> Option<MutexGuard<'_, Vec<SpanRecord>>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        // A panic while holding the lock cannot leave a Vec half-updated in a way we care
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

    /// Enqueues what fits; returns how many spans were accepted.
    pub(crate) fn push(&self, mut batch: Vec<SpanRecord>) -> usize {
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
                let Some(mut q) = try_lock(&shard.spans) else {
                    busy = true;
                    continue;
                };
                let room = self.per_shard.saturating_sub(q.len());
                if room == 0 {
                    continue;
                }
                if q.is_empty() && batch.len() <= room {
                    // Common case: hand the whole vector over without copying.
                    *q = std::mem::take(&mut batch);
                    break 'rounds;
                }
                let take = room.min(batch.len());
                q.extend(batch.drain(..take));
                if batch.is_empty() {
                    break 'rounds;
                }
            }
            if !busy {
                break; // every shard is full: no point in another round
            }
            if round == 0 {
                std::hint::spin_loop();
            }
        }
        let dropped = batch.len();
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

    /// Takes everything queued in shard `i` (empty if out of range).
    pub(crate) fn take_shard(&self, i: usize) -> Vec<SpanRecord> {
        let Some(shard) = self.shards.get(i) else {
            return Vec::new();
        };
        let mut q = shard
            .spans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::take(&mut *q)
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
    pub fn ingest(&self, batch: Vec<SpanRecord>) -> usize {
        self.queue.push(batch)
    }

    /// Queues one span; false if it was dropped.
    pub fn ingest_one(&self, span: SpanRecord) -> bool {
        self.queue.push(vec![span]) == 1
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

    #[test]
    fn full_queue_drops_and_counts() {
        let q = IngestQueue::new(10, 2);
        assert_eq!(q.push(spans(4)), 4);
        assert_eq!(q.push(spans(4)), 4);
        assert_eq!(q.push(spans(4)), 2, "only two places left");
        assert_eq!(q.dropped(), 2);
        assert_eq!(q.push(spans(1)), 0);
        assert_eq!(q.dropped(), 3);
        assert_eq!(q.accepted(), 10);
        let drained: usize = (0..q.shard_count()).map(|i| q.take_shard(i).len()).sum();
        assert_eq!(drained, 10);
        assert_eq!(q.push(spans(3)), 3, "room again after a drain");
    }

    #[test]
    fn busy_shard_is_skipped_not_waited_for() {
        let q = IngestQueue::new(10, 2);
        let home = q.home_shard();
        let _held = q.shards[home].spans.lock().unwrap();
        assert_eq!(q.push(spans(3)), 3);
        assert_eq!(q.shards[(home + 1) % 2].spans.try_lock().unwrap().len(), 3);
    }
}

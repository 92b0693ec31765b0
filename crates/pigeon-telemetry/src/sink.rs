//! The in-process span sink: a bounded, sharded queue that `on_end` pushes into, and one drain
//! thread that hands batches to consumers and to the OTLP export queue.
//!
//! Why not the SDK's batch processor: it drops beyond a 2,048-span queue, exports from a thread
//! that has deadlocked with tonic on small runtimes (opentelemetry-rust #2715, #3176), and feeds
//! one exporter only. Here the hot path is a short critical section on one of several
//! cache-line-aligned `Mutex<Vec<SpanData>>` shards, picked per thread, so threads rarely meet;
//! the drain thread swaps a whole shard's vector out at once, so it holds each lock for a pointer
//! swap. When the shards are full the span is dropped and counted, never waited for.
//!
//! The drain thread wakes every few milliseconds, or early when a shard passes a high-water mark
//! (the pushing thread unparks it), or when a flush or shutdown is requested.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, mpsc};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanData;

use crate::consumer::SpanConsumer;
use crate::drops::{DropCounters, SpanDrops};
use crate::error::{FlushError, TelemetryError};
use crate::export::ExportQueue;

/// How often the drain thread looks at the shards when nobody wakes it.
const DRAIN_INTERVAL: Duration = Duration::from_millis(5);
/// Initial capacity of each shard's vector, to avoid regrowth on the hot path at start.
const INITIAL_SHARD_VEC: usize = 256;

/// A cloneable handle to a running span sink.
///
/// Created by [`crate::Telemetry`] (see [`crate::Telemetry::sink`]) or directly with
/// [`SpanSink::start`] for a provider of your own; plug it into an `SdkTracerProvider` with
/// [`SpanSink::processor`]. When the last handle is dropped the drain thread is told to stop
/// (without waiting); call [`SpanSink::shutdown`] to wait for delivery.
#[derive(Clone)]
pub struct SpanSink {
    owner: Arc<Owner>,
}

impl std::fmt::Debug for SpanSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanSink")
            .field("shards", &self.owner.shared.shards.len())
            .field("shard_capacity", &self.owner.shared.shard_capacity)
            .field("drops", &self.drops())
            .finish()
    }
}

/// Held by every handle; stops the drain thread when the last handle goes.
struct Owner {
    shared: Arc<Shared>,
    flush_timeout: Duration,
}

impl Drop for Owner {
    fn drop(&mut self) {
        // Best effort, non-blocking: drop may run on an async worker.
        if !self.shared.stopping.swap(true, Ordering::AcqRel) {
            let (tx, _rx) = mpsc::sync_channel(1);
            self.shared.command(Command::Shutdown(tx));
        }
    }
}

#[repr(align(128))]
struct Shard {
    spans: Mutex<Vec<SpanData>>,
}

impl Shard {
    fn lock(&self) -> MutexGuard<'_, Vec<SpanData>> {
        // A Vec of spans cannot be left inconsistent by a panic elsewhere.
        self.spans.lock().unwrap_or_else(|e| e.into_inner())
    }
}

enum Command {
    /// Deliver everything pushed so far; reply with the export sequence to wait for.
    Flush(mpsc::SyncSender<u64>),
    /// Deliver everything, close the export queue, stop.
    Shutdown(mpsc::SyncSender<u64>),
}

struct Shared {
    shards: Box<[Shard]>,
    shard_mask: usize,
    shard_capacity: usize,
    wake_at: usize,
    drainer: OnceLock<Thread>,
    drops: Arc<DropCounters>,
    commands: Mutex<Vec<Command>>,
    consumers: RwLock<Vec<Arc<dyn SpanConsumer>>>,
    resource: Mutex<Option<Resource>>,
    export: Option<Arc<ExportQueue>>,
    stopping: AtomicBool,
}

/// Settings of a span sink started by hand with [`SpanSink::start`].
#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// Spans the queue holds before it drops; split evenly across shards. Default 131,072.
    pub capacity: usize,
    /// How long `force_flush` and `shutdown` wait at most. Default 5 s.
    pub flush_timeout: Duration,
}

impl Default for SinkOptions {
    fn default() -> Self {
        Self {
            capacity: crate::config::DEFAULT_SINK_CAPACITY,
            flush_timeout: crate::config::DEFAULT_FLUSH_TIMEOUT,
        }
    }
}

thread_local! {
    static SHARD_HINT: Cell<usize> = const { Cell::new(usize::MAX) };
}
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

/// A per-thread number, handed out round robin, so threads spread over the shards.
fn shard_hint() -> usize {
    SHARD_HINT.with(|hint| {
        let h = hint.get();
        if h != usize::MAX {
            return h;
        }
        let h = NEXT_SHARD.fetch_add(1, Ordering::Relaxed);
        hint.set(h);
        h
    })
}

impl SpanSink {
    /// Starts a sink (and its drain thread) that delivers to consumers only, never exports.
    pub fn start(options: SinkOptions) -> Result<Self, TelemetryError> {
        Self::start_with(options, Arc::new(DropCounters::default()), None)
    }

    pub(crate) fn start_with(
        options: SinkOptions,
        drops: Arc<DropCounters>,
        export: Option<Arc<ExportQueue>>,
    ) -> Result<Self, TelemetryError> {
        let parallelism = thread::available_parallelism().map_or(4, |n| n.get());
        let shard_count = (parallelism * 4).clamp(8, 64).next_power_of_two();
        let capacity = options.capacity.max(1);
        let shard_capacity = capacity.div_ceil(shard_count).max(1);
        let shards = (0..shard_count)
            .map(|_| Shard {
                spans: Mutex::new(Vec::with_capacity(INITIAL_SHARD_VEC.min(shard_capacity))),
            })
            .collect();
        let shared = Arc::new(Shared {
            shards,
            shard_mask: shard_count - 1,
            shard_capacity,
            wake_at: (shard_capacity / 4).clamp(1, 4096),
            drainer: OnceLock::new(),
            drops,
            commands: Mutex::new(Vec::new()),
            consumers: RwLock::new(Vec::new()),
            resource: Mutex::new(None),
            export,
            stopping: AtomicBool::new(false),
        });
        let for_thread = Arc::clone(&shared);
        let handle = thread::Builder::new()
            .name("pigeon-span-sink".into())
            .spawn(move || drain_loop(&for_thread))
            .map_err(|e| TelemetryError::Thread(e.to_string()))?;
        // Set once, right here; nobody else sets it.
        let _ = shared.drainer.set(handle.thread().clone());
        Ok(Self {
            owner: Arc::new(Owner {
                shared,
                flush_timeout: options.flush_timeout,
            }),
        })
    }

    /// A span processor feeding this sink, for `SdkTracerProvider::builder().with_span_processor`.
    pub fn processor(&self) -> crate::processor::SinkProcessor {
        crate::processor::SinkProcessor::new(self.clone())
    }

    /// Enqueues one finished span. Never blocks on the drain thread: when the queue is full the
    /// span is dropped and counted. This is `on_end`'s whole job.
    #[inline]
    pub fn push(&self, span: SpanData) {
        let shared = &*self.owner.shared;
        if shared.stopping.load(Ordering::Relaxed) {
            return;
        }
        let first = shard_hint() & shared.shard_mask;
        let mut spans = shared.shards[first].lock();
        if spans.len() < shared.shard_capacity {
            spans.push(span);
            let len = spans.len();
            drop(spans);
            if len == shared.wake_at {
                shared.wake();
            }
            return;
        }
        drop(spans);
        // This thread's shard is full: try the others before giving up, without waiting.
        for i in 1..shared.shards.len() {
            let shard = &shared.shards[(first + i) & shared.shard_mask];
            if let Ok(mut spans) = shard.spans.try_lock()
                && spans.len() < shared.shard_capacity
            {
                spans.push(span);
                return;
            }
        }
        shared.drops.sink_full.fetch_add(1, Ordering::Relaxed);
        shared.wake();
    }

    /// Registers a consumer; it receives every span that ends from now on.
    pub fn add_consumer(&self, consumer: Arc<dyn SpanConsumer>) {
        let shared = &self.owner.shared;
        if let Some(resource) = shared.lock_resource().as_ref() {
            consumer.set_resource(resource);
        }
        shared
            .consumers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(consumer);
    }

    /// Spans dropped so far, by reason (queue full here, export queue full, export failed).
    pub fn drops(&self) -> SpanDrops {
        self.owner.shared.drops.snapshot()
    }

    /// Waits until every span pushed before this call has been handed to all consumers, and —
    /// when OTLP export is on — until the exporter has finished with them (sent or failed).
    ///
    /// Blocks the calling thread for at most the flush timeout. The work is done by the sink's
    /// and exporter's own threads, which need nothing from the caller's runtime, so calling this
    /// from async code cannot deadlock; prefer [`crate::Telemetry::flush_async`] there to keep
    /// the worker free.
    pub fn force_flush(&self) -> Result<(), FlushError> {
        let deadline = Instant::now() + self.owner.flush_timeout;
        let shared = &self.owner.shared;
        if shared.stopping.load(Ordering::Acquire) {
            return Err(FlushError::ShutDown);
        }
        let (tx, rx) = mpsc::sync_channel(1);
        shared.command(Command::Flush(tx));
        let seq = recv_until(&rx, deadline)?;
        match &shared.export {
            Some(queue) if !queue.wait_handled(seq, deadline) => {
                Err(FlushError::Timeout(self.owner.flush_timeout))
            }
            _ => Ok(()),
        }
    }

    /// Delivers what is queued, stops the drain thread, and lets the exporter send what it
    /// holds, waiting at most `timeout` overall. Later pushes are ignored. Safe to call more
    /// than once; blocking like [`SpanSink::force_flush`], never deadlocking.
    pub fn shutdown_with_timeout(&self, timeout: Duration) -> Result<(), FlushError> {
        let deadline = Instant::now() + timeout;
        let shared = &self.owner.shared;
        if shared.stopping.swap(true, Ordering::AcqRel) {
            return Err(FlushError::ShutDown);
        }
        let (tx, rx) = mpsc::sync_channel(1);
        shared.command(Command::Shutdown(tx));
        recv_until(&rx, deadline)?;
        match &shared.export {
            Some(queue) if !queue.wait_done(deadline) => Err(FlushError::Timeout(timeout)),
            _ => Ok(()),
        }
    }

    /// [`SpanSink::shutdown_with_timeout`] with the configured flush timeout.
    pub fn shutdown(&self) -> Result<(), FlushError> {
        self.shutdown_with_timeout(self.owner.flush_timeout)
    }

    pub(crate) fn set_resource(&self, resource: &Resource) {
        let shared = &self.owner.shared;
        *shared.lock_resource() = Some(resource.clone());
        for consumer in shared
            .consumers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            consumer.set_resource(resource);
        }
    }

    pub(crate) fn flush_timeout(&self) -> Duration {
        self.owner.flush_timeout
    }
}

fn recv_until(rx: &mpsc::Receiver<u64>, deadline: Instant) -> Result<u64, FlushError> {
    let wait = deadline.saturating_duration_since(Instant::now());
    rx.recv_timeout(wait).map_err(|e| match e {
        mpsc::RecvTimeoutError::Timeout => FlushError::Timeout(wait),
        mpsc::RecvTimeoutError::Disconnected => FlushError::ShutDown,
    })
}

impl Shared {
    fn wake(&self) {
        if let Some(t) = self.drainer.get() {
            t.unpark();
        }
    }

    fn command(&self, command: Command) {
        self.commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(command);
        self.wake();
    }

    fn lock_resource(&self) -> MutexGuard<'_, Option<Resource>> {
        self.resource.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Swaps each shard's spans out and delivers them. Returns the export sequence reached and
    /// the number of spans drained.
    ///
    /// Each shard is double-buffered: `spares[i]` is the buffer swapped into shard `i` next,
    /// so a busy shard keeps big buffers and an idle one small buffers. Before the swap the
    /// spare is grown to twice the shard's previous batch (`last[i]`), on this thread rather
    /// than by a producer under the lock, and shrunk once a burst is over.
    fn drain(&self, spares: &mut [Vec<SpanData>], last: &mut [usize]) -> (u64, usize) {
        let mut seq = self.export.as_ref().map_or(0, |q| q.accepted());
        let mut total = 0;
        for ((shard, spare), last) in self
            .shards
            .iter()
            .zip(spares.iter_mut())
            .zip(last.iter_mut())
        {
            let want = (2 * *last).clamp(
                INITIAL_SHARD_VEC,
                self.shard_capacity.max(INITIAL_SHARD_VEC),
            );
            if spare.capacity() < want {
                spare.reserve_exact(want);
            } else if spare.capacity() > 8 * want {
                spare.shrink_to(want);
            }
            std::mem::swap(&mut *shard.lock(), spare);
            *last = spare.len();
            total += spare.len();
            if spare.is_empty() {
                continue;
            }
            self.deliver(spare);
            match &self.export {
                Some(queue) => seq = queue.offer(spare),
                None => spare.clear(),
            }
        }
        (seq, total)
    }

    fn deliver(&self, batch: &[SpanData]) {
        let consumers = self.consumers.read().unwrap_or_else(|e| e.into_inner());
        let mut panicked = Vec::new();
        for (i, consumer) in consumers.iter().enumerate() {
            if catch_unwind(AssertUnwindSafe(|| consumer.consume(batch))).is_err() {
                panicked.push(i);
            }
        }
        drop(consumers);
        if !panicked.is_empty() {
            tracing::error!(
                consumers = panicked.len(),
                "span consumer panicked; removing it"
            );
            let mut consumers = self.consumers.write().unwrap_or_else(|e| e.into_inner());
            for i in panicked.into_iter().rev() {
                consumers.remove(i);
            }
        }
    }
}

fn drain_loop(shared: &Shared) {
    // Consumers and logging on this thread must not create spans of their own.
    let _suppressed = Context::enter_telemetry_suppressed_scope();
    let mut spares: Vec<Vec<SpanData>> = (0..shared.shards.len())
        .map(|_| Vec::with_capacity(INITIAL_SHARD_VEC))
        .collect();
    let mut last = vec![0; shared.shards.len()];
    let mut busy = false;
    loop {
        // Under load, go round again at once: the thread may have been descheduled while the
        // shards filled, and the next wake-up token may already be spent.
        if !busy {
            thread::park_timeout(DRAIN_INTERVAL);
        }
        // Take commands before draining: every span pushed before a flush request was sent is
        // then in a shard when we look.
        let commands =
            std::mem::take(&mut *shared.commands.lock().unwrap_or_else(|e| e.into_inner()));
        let (seq, drained) = shared.drain(&mut spares, &mut last);
        busy = drained >= shared.wake_at;
        shared.drops.warn_once(None);
        let mut stop = false;
        for command in commands {
            match command {
                Command::Flush(ack) => {
                    let _ = ack.send(seq);
                }
                Command::Shutdown(ack) => {
                    shared.stopping.store(true, Ordering::Release);
                    // Pushes racing with the stop flag may have landed since.
                    let (seq, _) = shared.drain(&mut spares, &mut last);
                    if let Some(queue) = &shared.export {
                        queue.close();
                    }
                    let _ = ack.send(seq);
                    stop = true;
                }
            }
        }
        if stop {
            return;
        }
    }
}

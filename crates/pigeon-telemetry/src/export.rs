//! OTLP export on its own thread, behind its own bounded queue.
//!
//! Why: export talks to the network, and the network can be slow, down or black-holing. The
//! sink's drain thread only *offers* spans to this queue (never waits); what does not fit is
//! dropped and counted. The exporter thread owns its runtime: a current-thread Tokio runtime for
//! gRPC (tonic must be built inside one), and a tiny park/unpark executor for OTLP/HTTP, whose
//! blocking reqwest client panics inside a Tokio runtime. Nothing here touches the
//! application's runtime, so export trouble cannot stall it (cf. opentelemetry-rust #2715, #3176).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tokio::sync::Notify;

use crate::config::{OtlpProtocol, OtlpTarget};
use crate::drops::DropCounters;
use crate::error::TelemetryError;

/// The bounded queue between the sink's drain thread and the exporter thread.
#[derive(Debug)]
pub(crate) struct ExportQueue {
    state: Mutex<QueueState>,
    /// Wakes the exporter when spans arrive or the queue closes.
    work: Notify,
    /// Wakes flush waiters when spans have been handled (exported or dropped).
    progress: Condvar,
    capacity: usize,
    batch_size: usize,
    drops: Arc<DropCounters>,
}

#[derive(Debug, Default)]
struct QueueState {
    spans: VecDeque<SpanData>,
    /// Spans accepted into the queue so far.
    accepted: u64,
    /// Spans taken out and handled (export finished, successfully or not).
    handled: u64,
    closed: bool,
    /// The exporter thread has finished.
    done: bool,
}

impl ExportQueue {
    pub(crate) fn new(capacity: usize, batch_size: usize, drops: Arc<DropCounters>) -> Self {
        Self {
            state: Mutex::new(QueueState::default()),
            work: Notify::new(),
            progress: Condvar::new(),
            capacity: capacity.max(1),
            batch_size: batch_size.max(1),
            drops,
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // Only counters and a deque behind this lock: still consistent after a panic.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves as many spans of `batch` as fit into the queue, drops and counts the rest, and
    /// returns the sequence number a flush has to wait for. Never blocks on the exporter.
    pub(crate) fn offer(&self, batch: &mut Vec<SpanData>) -> u64 {
        let mut state = self.lock();
        if state.closed {
            let n = batch.len() as u64;
            batch.clear();
            self.drops.export_queue_full.fetch_add(n, Ordering::Relaxed);
            return state.accepted;
        }
        let room = self.capacity.saturating_sub(state.spans.len());
        let take = room.min(batch.len());
        let dropped = batch.len() - take;
        state.spans.extend(batch.drain(..take));
        state.accepted += take as u64;
        let seq = state.accepted;
        drop(state);
        batch.clear();
        if dropped > 0 {
            self.drops
                .export_queue_full
                .fetch_add(dropped as u64, Ordering::Relaxed);
        }
        if take > 0 {
            self.work.notify_one();
        }
        seq
    }

    /// The current sequence number (everything accepted so far).
    pub(crate) fn accepted(&self) -> u64 {
        self.lock().accepted
    }

    /// Waits until every span accepted up to `seq` has been handled, or the deadline passes.
    pub(crate) fn wait_handled(&self, seq: u64, deadline: Instant) -> bool {
        let mut state = self.lock();
        loop {
            if state.handled >= seq {
                return true;
            }
            if state.done {
                // The exporter is gone; what is left will never be handled.
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = match self.progress.wait_timeout(state, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Waits until the exporter thread has finished, or the deadline passes.
    pub(crate) fn wait_done(&self, deadline: Instant) -> bool {
        let mut state = self.lock();
        while !state.done {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = match self.progress.wait_timeout(state, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        true
    }

    /// No more spans will be offered; the exporter drains the queue and stops.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.work.notify_one();
    }

    fn take_batch(&self) -> (Vec<SpanData>, bool) {
        let mut state = self.lock();
        let n = state.spans.len().min(self.batch_size);
        let batch: Vec<SpanData> = state.spans.drain(..n).collect();
        (batch, state.closed)
    }

    fn mark_handled(&self, n: usize) {
        self.lock().handled += n as u64;
        self.progress.notify_all();
    }

    fn mark_done(&self) {
        let mut state = self.lock();
        state.done = true;
        // Anything still queued is lost: count it.
        let left = state.spans.len() as u64;
        state.spans.clear();
        drop(state);
        if left > 0 {
            self.drops.export_failed.fetch_add(left, Ordering::Relaxed);
        }
        self.progress.notify_all();
    }
}

/// Starts the exporter thread for `target` and waits until the exporter is built.
pub(crate) fn spawn(
    target: &OtlpTarget,
    timeout: Option<Duration>,
    resource: Resource,
    queue: Arc<ExportQueue>,
) -> Result<(), TelemetryError> {
    let (built_tx, built_rx) = mpsc::sync_channel::<Result<(), TelemetryError>>(1);
    let target = target.clone();
    thread::Builder::new()
        .name("pigeon-otlp-export".into())
        .spawn(move || run(target, timeout, resource, queue, built_tx))
        .map_err(|e| TelemetryError::Thread(e.to_string()))?;
    match built_rx.recv() {
        Ok(result) => result,
        Err(_) => Err(TelemetryError::Exporter(
            "exporter thread ended before building the exporter".into(),
        )),
    }
}

fn run(
    target: OtlpTarget,
    timeout: Option<Duration>,
    resource: Resource,
    queue: Arc<ExportQueue>,
    built: mpsc::SyncSender<Result<(), TelemetryError>>,
) {
    // Spans created by the exporter's own stack (tonic, hyper, h2) must not be traced: that
    // would feed export back into export.
    let _suppressed = Context::enter_telemetry_suppressed_scope();
    match target.protocol {
        OtlpProtocol::Grpc => {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = built.send(Err(TelemetryError::Exporter(format!(
                        "exporter runtime: {e}"
                    ))));
                    queue.mark_done();
                    return;
                }
            };
            runtime.block_on(async {
                let mut builder = opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(target.url.clone())
                    .with_protocol(Protocol::Grpc);
                if let Some(t) = timeout {
                    builder = builder.with_timeout(t);
                }
                match builder.build() {
                    Ok(exporter) => {
                        let _ = built.send(Ok(()));
                        export_loop(exporter, resource, &queue).await;
                    }
                    Err(e) => {
                        let _ = built.send(Err(TelemetryError::Exporter(e.to_string())));
                    }
                }
            });
        }
        OtlpProtocol::HttpProtobuf => {
            let mut builder = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(target.url.clone())
                .with_protocol(Protocol::HttpBinary);
            if let Some(t) = timeout {
                builder = builder.with_timeout(t);
            }
            match builder.build() {
                Ok(exporter) => {
                    let _ = built.send(Ok(()));
                    block_on(export_loop(exporter, resource, &queue));
                }
                Err(e) => {
                    let _ = built.send(Err(TelemetryError::Exporter(e.to_string())));
                }
            }
        }
    }
    queue.mark_done();
}

async fn export_loop<E: SpanExporter>(mut exporter: E, resource: Resource, queue: &ExportQueue) {
    exporter.set_resource(&resource);
    loop {
        let notified = queue.work.notified();
        let (batch, closed) = queue.take_batch();
        if batch.is_empty() {
            if closed {
                break;
            }
            notified.await;
            continue;
        }
        let n = batch.len();
        if let Err(e) = exporter.export(batch).await {
            queue
                .drops
                .export_failed
                .fetch_add(n as u64, Ordering::Relaxed);
            queue.drops.warn_once(Some(&e.to_string()));
            tracing::debug!(error = %e, spans = n, "OTLP export failed");
        }
        queue.mark_handled(n);
    }
    if let Err(e) = exporter.shutdown() {
        tracing::debug!(error = %e, "OTLP exporter shutdown");
    }
}

/// Runs a future to completion on the current thread, parking between polls. Enough for the
/// OTLP/HTTP exporter, whose I/O is blocking and whose waits are `std::thread::sleep`.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unparker(Thread);
    impl Wake for Unparker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(Unparker(thread::current())));
    let mut cx = TaskContext::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}

//! In-process span consumers: the trait the sink delivers to, and a collecting one for tests.
//!
//! Why a trait of our own rather than `SpanExporter`: an exporter takes ownership of every batch
//! and is async, so feeding several of them means cloning each batch and running a runtime.
//! Consumers borrow the batch on the sink's drain thread, so any number of them (the journey
//! store, test collectors, counters) cost no copies.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanData;

/// Receives finished spans, in batches, on the span sink's drain thread.
///
/// `consume` runs on one dedicated thread for all consumers in turn: keep it quick and never
/// block on the application's async runtime (no `Handle::block_on`). A consumer that panics is
/// removed and the panic is logged once; the others keep receiving spans.
pub trait SpanConsumer: Send + Sync {
    /// Called with each batch of finished, sampled spans.
    fn consume(&self, batch: &[SpanData]);

    /// Called with the tracer provider's resource (`service.name` and friends) when the consumer
    /// is registered after the provider was built, and whenever the resource changes.
    fn set_resource(&self, _resource: &Resource) {}
}

/// Keeps the most recent spans in memory, up to a capacity, for tests to assert on.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use opentelemetry::trace::{Tracer, TracerProvider};
/// use pigeon_telemetry::{CollectingConsumer, Telemetry};
///
/// let collector = Arc::new(CollectingConsumer::new(1_000));
/// let telemetry = Telemetry::builder().with_consumer(collector.clone()).build_local()?;
/// telemetry.tracer_provider().tracer("doc").in_span("hello", |_| {});
/// telemetry.force_flush()?;
/// assert_eq!(collector.spans()[0].name, "hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct CollectingConsumer {
    capacity: usize,
    state: Mutex<Collected>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Collected {
    spans: VecDeque<SpanData>,
    evicted: u64,
    resource: Option<Resource>,
}

impl CollectingConsumer {
    /// Keeps at most `capacity` spans; older ones are evicted (and counted) beyond that.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            state: Mutex::new(Collected::default()),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Collected> {
        // A panic while holding this lock cannot leave `Collected` inconsistent (pushes and
        // pops only), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the spans kept so far, oldest first.
    pub fn spans(&self) -> Vec<SpanData> {
        self.lock().spans.iter().cloned().collect()
    }

    /// Removes and returns the spans kept so far, oldest first.
    pub fn take(&self) -> Vec<SpanData> {
        self.lock().spans.drain(..).collect()
    }

    /// Number of spans kept.
    pub fn len(&self) -> usize {
        self.lock().spans.len()
    }

    /// Whether no span is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Spans evicted because the capacity was reached.
    pub fn evicted(&self) -> u64 {
        self.lock().evicted
    }

    /// The resource last announced by the sink, if any.
    pub fn resource(&self) -> Option<Resource> {
        self.lock().resource.clone()
    }

    /// Blocks until `predicate` holds for the kept spans, then returns a copy of them; `None`
    /// after `timeout`. Delivery happens on the sink's own thread, so calling this from a Tokio
    /// worker cannot deadlock (it only blocks that worker until spans arrive).
    pub fn wait_for(
        &self,
        mut predicate: impl FnMut(&[SpanData]) -> bool,
        timeout: Duration,
    ) -> Option<Vec<SpanData>> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            let spans = state.spans.make_contiguous();
            if predicate(spans) {
                return Some(spans.to_vec());
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            state = match self.changed.wait_timeout(state, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

impl SpanConsumer for CollectingConsumer {
    fn consume(&self, batch: &[SpanData]) {
        let mut state = self.lock();
        for span in batch {
            if state.spans.len() == self.capacity {
                state.spans.pop_front();
                state.evicted += 1;
            }
            state.spans.push_back(span.clone());
        }
        drop(state);
        self.changed.notify_all();
    }

    fn set_resource(&self, resource: &Resource) {
        self.lock().resource = Some(resource.clone());
    }
}

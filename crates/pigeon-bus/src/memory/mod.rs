//! The in-process backend: the embedded default.
//!
//! * `topic` / `group`: a log per topic and per-group delivery state (see their docs).
//! * `consumer`: the [`Deliveries`](crate::Deliveries) and [`Acker`](crate::Acker) of a group.
//! * `durable`: optional append-only log on disk with group commit, so accepted messages
//!   survive a restart — all but those published as transient, which stay in memory.
//!
//! Delivery semantics match JetStream's work-queue-per-group model: every group gets every
//! message, members of a group share them, a message holds its key until settled (per-key
//! order), and unsettled messages come back after their ack deadline.

mod consumer;
mod durable;
mod group;
mod topic;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use self::durable::DurableLog;
use self::topic::{Appended, Limits, Topic};
use crate::{Backend, ConsumerSpec, Deliveries, Envelope, PublishError, SubscribeError};

pub use self::durable::OpenError;

/// How often a publisher waiting for room in a full topic looks again.
const ROOM_RECHECK: Duration = Duration::from_millis(10);

/// Settings of the in-process backend.
#[derive(Debug, Clone)]
pub struct MemoryConfig {
    /// Most messages a topic retains. Default 1,000,000.
    pub max_messages_per_topic: usize,
    /// Most bytes a topic retains. Default 512 MiB.
    pub max_bytes_per_topic: usize,
    /// Largest message accepted. Default 1 MiB.
    pub max_message_bytes: usize,
    /// How long a publish waits for room in a full topic before failing. Default 5 s.
    pub publish_timeout: Duration,
    /// With a directory, accepted messages are written to a log there before publish returns,
    /// and replayed at open. Default none (in memory only).
    pub data_dir: Option<PathBuf>,
    /// The durable log is rewritten with only live records once it grows past this. Default
    /// 64 MiB.
    pub compact_after_bytes: u64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            max_messages_per_topic: 1_000_000,
            max_bytes_per_topic: 512 << 20,
            max_message_bytes: 1 << 20,
            publish_timeout: Duration::from_secs(5),
            data_dir: None,
            compact_after_bytes: 64 << 20,
        }
    }
}

/// A thread's last topic look-up: (owning `Topics` id, name, topic).
type CachedTopic = (u64, Arc<str>, std::sync::Weak<Topic>);

thread_local! {
    static LAST_TOPIC: std::cell::RefCell<Option<CachedTopic>> =
        const { std::cell::RefCell::new(None) };
}

/// The topics of one backend, shared with the durable log's writer.
pub(crate) struct Topics {
    /// Unique per backend instance, so a thread's cached topic never crosses backends.
    id: u64,
    map: RwLock<HashMap<Arc<str>, Arc<Topic>>>,
    limits: Limits,
}

impl Topics {
    fn new(config: &MemoryConfig) -> Self {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Self {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            map: RwLock::new(HashMap::new()),
            limits: Limits {
                max_messages: config.max_messages_per_topic,
                max_bytes: config.max_bytes_per_topic,
            },
        }
    }

    pub(crate) fn get_or_create(&self, name: &Arc<str>) -> Arc<Topic> {
        // Publishers reuse one `Arc<str>` per topic: a pointer match skips hashing the name.
        let me = self.id;
        let cached = LAST_TOPIC.with_borrow(|last| {
            last.as_ref()
                .filter(|(owner, n, _)| *owner == me && Arc::ptr_eq(n, name))
                .and_then(|(_, _, topic)| topic.upgrade())
        });
        if let Some(topic) = cached {
            return topic;
        }
        let topic = self.lookup(name);
        LAST_TOPIC.set(Some((me, name.clone(), Arc::downgrade(&topic))));
        topic
    }

    fn lookup(&self, name: &Arc<str>) -> Arc<Topic> {
        if let Some(topic) = self
            .map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
        {
            return topic.clone();
        }
        self.map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(name.clone())
            .or_insert_with(|| Arc::new(Topic::new(self.limits)))
            .clone()
    }

    pub(crate) fn all(&self) -> Vec<(Arc<str>, Arc<Topic>)> {
        self.map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// The in-process backend. Cheap to clone; clones share topics.
#[derive(Clone)]
pub struct MemoryBackend {
    inner: Arc<Inner>,
}

struct Inner {
    topics: Arc<Topics>,
    config: MemoryConfig,
    log: Option<DurableLog>,
    closed: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBackend")
            .field("durable", &self.inner.log.is_some())
            .finish()
    }
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBackend {
    /// A non-durable backend with default limits.
    pub fn new() -> Self {
        let config = MemoryConfig::default();
        Self::with_parts(Arc::new(Topics::new(&config)), config, None)
    }

    /// A backend with `config`; when it names a data dir, the durable log there is replayed.
    /// Must be called within a tokio runtime when durable.
    pub fn open(config: MemoryConfig) -> Result<Self, OpenError> {
        let topics = Arc::new(Topics::new(&config));
        let log = match &config.data_dir {
            Some(dir) => Some(DurableLog::open(
                dir,
                topics.clone(),
                config.compact_after_bytes,
            )?),
            None => None,
        };
        Ok(Self::with_parts(topics, config, log))
    }

    fn with_parts(topics: Arc<Topics>, config: MemoryConfig, log: Option<DurableLog>) -> Self {
        Self {
            inner: Arc::new(Inner {
                topics,
                config,
                log,
                closed: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    fn is_closed(&self) -> bool {
        self.inner.closed.load(std::sync::atomic::Ordering::Acquire)
    }

    async fn publish_inner(&self, envelope: Envelope) -> Result<(), PublishError> {
        if self.is_closed() {
            return Err(PublishError::Closed);
        }
        let topic = self.inner.topics.get_or_create(&envelope.topic);
        let envelope = Arc::new(envelope);
        let log = match &self.inner.log {
            Some(log) if !envelope.transient => log,
            _ => return self.append_waiting(&topic, envelope).await,
        };
        // Durable: wait for room first, then the writer appends to memory after the fsync.
        let started = Instant::now();
        while topic.lock_is_full(envelope.encoded_len()) {
            self.wait_for_room(&topic, started).await?;
        }
        log.publish(envelope, topic).await
    }

    async fn append_waiting(
        &self,
        topic: &Topic,
        envelope: Arc<Envelope>,
    ) -> Result<(), PublishError> {
        let started = Instant::now();
        loop {
            // Register interest before trying, so a trim between the try and the wait wakes us.
            let room = topic.room.notified();
            match topic.append(envelope.clone()) {
                Appended::Yes => return Ok(()),
                Appended::Full => {}
            }
            let left = self
                .inner
                .config
                .publish_timeout
                .saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(full(started));
            }
            // Slices bound the stall if a trim slipped in before the wait registered.
            topic.wait_for_room(left.min(ROOM_RECHECK), room).await;
            if self.is_closed() {
                return Err(PublishError::Closed);
            }
        }
    }

    async fn wait_for_room(&self, topic: &Topic, started: Instant) -> Result<(), PublishError> {
        let left = self
            .inner
            .config
            .publish_timeout
            .saturating_sub(started.elapsed());
        let room = topic.room.notified();
        if left.is_zero() {
            return Err(full(started));
        }
        // A short re-check interval covers a trim that raced with registering interest.
        topic.wait_for_room(left.min(ROOM_RECHECK), room).await;
        if self.is_closed() {
            return Err(PublishError::Closed);
        }
        Ok(())
    }
}

fn full(started: Instant) -> PublishError {
    PublishError::Full {
        waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

impl Backend for MemoryBackend {
    fn system(&self) -> &'static str {
        "pigeon"
    }

    fn max_message_bytes(&self) -> usize {
        self.inner.config.max_message_bytes
    }

    fn orders_keys(&self) -> bool {
        true
    }

    fn publish(&self, envelope: Envelope) -> BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(self.publish_inner(envelope))
    }

    fn consume(
        &self,
        spec: ConsumerSpec,
    ) -> BoxFuture<'_, Result<Box<dyn Deliveries>, SubscribeError>> {
        Box::pin(async move {
            if self.is_closed() {
                return Err(SubscribeError::Closed);
            }
            let topic = self.inner.topics.get_or_create(&spec.topic);
            let (group, notify, created) = topic.join(&spec.group);
            if created && let Some(log) = &self.inner.log {
                log.group(spec.topic.clone(), spec.group.clone())
                    .await
                    .map_err(|e| SubscribeError::Backend(e.to_string()))?;
            }
            let consumer = consumer::MemoryDeliveries::new(
                topic,
                group,
                spec,
                notify,
                self.inner.log.as_ref().map(DurableLog::settle_sender),
                self.clone(),
            );
            Ok(Box::new(consumer) as Box<dyn Deliveries>)
        })
    }

    fn health(&self) -> BoxFuture<'_, Result<(), String>> {
        let health = if self.is_closed() {
            Err("the in-process bus is shut down".to_owned())
        } else {
            Ok(())
        };
        Box::pin(std::future::ready(health))
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.inner
                .closed
                .store(true, std::sync::atomic::Ordering::Release);
            for (_, topic) in self.inner.topics.all() {
                topic.wake_all();
                topic.room.notify_waiters();
            }
            if let Some(log) = &self.inner.log {
                log.shutdown().await;
            }
        })
    }
}

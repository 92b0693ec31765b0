//! One JetStream stream per topic, created on first use and remembered.
//!
//! Publishing to a subject no stream listens on gets "no responders", so a stream must exist
//! before the first publish or consumer. Asking the server on every publish would double the
//! round trips, so each process remembers which topics it has ensured. Concurrent first uses of
//! a topic share one creation (a `OnceCell` per topic), and a topic whose stream disappeared
//! (deleted by an operator) is forgotten and ensured again by the publisher that noticed.
//!
//! Streams use limits retention, so every consumer group reads every message and messages stay
//! until `max_age` or `max_bytes` drops them. An existing stream is used as it is: operators may
//! tune its limits with the `nats` CLI without this backend undoing it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_nats::Subject;
use async_nats::jetstream::{self, stream};
use tokio::sync::OnceCell;

use crate::NatsConfig;
use crate::names::stream_name;

/// A topic as this backend knows it.
#[derive(Debug)]
pub(crate) struct Topic {
    /// The subject messages are published to: the topic itself.
    pub(crate) subject: Subject,
    /// The stream's name, derived from the topic.
    pub(crate) stream: Arc<str>,
    ensured: OnceCell<()>,
}

/// The topics this process has seen, and their streams.
#[derive(Debug)]
pub(crate) struct Streams {
    js: jetstream::Context,
    template: stream::Config,
    prefix: String,
    topics: Mutex<HashMap<Arc<str>, Arc<Topic>>>,
}

impl Streams {
    pub(crate) fn new(js: jetstream::Context, config: &NatsConfig) -> Self {
        let template = stream::Config {
            max_age: config.max_age,
            max_bytes: config.max_bytes.unwrap_or(-1),
            max_messages: -1,
            duplicate_window: config.duplicate_window,
            storage: if config.memory_storage {
                stream::StorageType::Memory
            } else {
                stream::StorageType::File
            },
            num_replicas: config.replicas,
            retention: stream::RetentionPolicy::Limits,
            discard: stream::DiscardPolicy::Old,
            ..Default::default()
        };
        Self {
            js,
            template,
            prefix: config.stream_prefix.clone(),
            topics: Mutex::new(HashMap::new()),
        }
    }

    /// The stream name of `topic`.
    pub(crate) fn name_of(&self, topic: &str) -> String {
        stream_name(&self.prefix, topic)
    }

    /// `topic`, with its stream created if this process has not ensured it yet.
    pub(crate) async fn ensure(&self, topic: &Arc<str>) -> Result<Arc<Topic>, String> {
        let entry = self.entry(topic);
        entry
            .ensured
            .get_or_try_init(|| self.create(topic, &entry.stream))
            .await?;
        Ok(entry)
    }

    /// Forgets that `topic`'s stream exists, so the next [`Streams::ensure`] asks the server.
    pub(crate) fn forget(&self, topic: &str) {
        self.lock().remove(topic);
    }

    fn entry(&self, topic: &Arc<str>) -> Arc<Topic> {
        let mut topics = self.lock();
        if let Some(entry) = topics.get(topic) {
            return entry.clone();
        }
        let entry = Arc::new(Topic {
            subject: Subject::from(&**topic),
            stream: Arc::from(self.name_of(topic)),
            ensured: OnceCell::new(),
        });
        topics.insert(topic.clone(), entry.clone());
        entry
    }

    async fn create(&self, topic: &str, name: &str) -> Result<(), String> {
        let config = stream::Config {
            name: name.to_owned(),
            subjects: vec![topic.to_owned()],
            description: Some(format!("pigeon-bus topic {topic}")),
            ..self.template.clone()
        };
        self.js
            .get_or_create_stream(config)
            .await
            .map(|_| tracing::debug!(topic, stream = name, "stream ready"))
            .map_err(|err| format!("cannot create stream {name} for topic {topic}: {err}"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Arc<Topic>>> {
        // The map is only ever inserted into or removed from; a panic elsewhere cannot leave it
        // half-changed, so a poisoned lock is still consistent.
        self.topics.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

//! The durable mode of the in-process backend: an append-only log file with group commit.
//!
//! One writer thread owns the file. Publishers send their message and wait; the writer takes
//! every request queued at that moment, writes them with one `write`, makes them durable with
//! one `fdatasync`, and only then appends the messages to memory and answers — so many
//! publishes share one sync, and nothing a consumer sees can be lost by a crash. Settlements
//! (acks and terms) are written in the same batches but nobody waits for them: after a crash a
//! settled message may come back once, which at-least-once delivery allows.
//!
//! A transient message ([`OutgoingMessage::transient`](crate::OutgoingMessage::transient))
//! never comes here: it is appended to memory only and its settlement is not recorded.
//!
//! The writer also compacts: past `compact_after_bytes` it rewrites the log with only what is
//! live (groups, unsettled messages, their settlements) and renames it into place. It does so
//! between batches, when every committed message is in memory, so the snapshot is complete.

mod record;
mod replay;

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

use super::Topics;
use super::topic::Topic;
use crate::{Envelope, MessageId, PublishError};

/// Name of the log file in the data dir.
const LOG_FILE: &str = "bus.log";
/// Requests queued for the writer before publishers wait.
const QUEUE: usize = 8192;
/// Requests written in one batch at most.
const MAX_BATCH: usize = 4096;

/// Why the durable log could not be opened.
#[derive(Debug, Error)]
pub enum OpenError {
    /// The data dir or log file could not be created, read or written.
    #[error("durable bus log at {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// A settlement to record.
pub(crate) struct SettleRecord {
    pub(crate) topic: Arc<str>,
    pub(crate) group: Arc<str>,
    pub(crate) id: MessageId,
}

enum Request {
    Publish {
        envelope: Arc<Envelope>,
        topic: Arc<Topic>,
        done: oneshot::Sender<Result<(), String>>,
    },
    Group {
        topic: Arc<str>,
        group: Arc<str>,
        done: oneshot::Sender<Result<(), String>>,
    },
    Settle(SettleRecord),
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

/// Sends settlements to the writer.
#[derive(Clone)]
pub(crate) struct SettleSender(mpsc::Sender<Request>);

impl SettleSender {
    pub(crate) async fn send(&self, record: SettleRecord) -> Result<(), ()> {
        self.0.send(Request::Settle(record)).await.map_err(|_| ())
    }
}

/// Handle to the writer thread.
pub(crate) struct DurableLog {
    tx: mpsc::Sender<Request>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl DurableLog {
    /// Replays the log in `dir` into `topics`, then starts the writer.
    pub(crate) fn open(
        dir: &Path,
        topics: Arc<Topics>,
        compact_after: u64,
    ) -> Result<Self, OpenError> {
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |source| OpenError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let path = dir.join(LOG_FILE);
        let size = replay::replay(&path, &topics).map_err(io_err(&path))?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = Writer {
            file,
            path: path.clone(),
            size,
            compact_after,
            topics,
        };
        let thread = std::thread::Builder::new()
            .name("pigeon-bus-log".into())
            .spawn(move || writer.run(rx))
            .map_err(io_err(&path))?;
        Ok(Self {
            tx,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub(crate) async fn publish(
        &self,
        envelope: Arc<Envelope>,
        topic: Arc<Topic>,
    ) -> Result<(), PublishError> {
        let (done, answer) = oneshot::channel();
        self.tx
            .send(Request::Publish {
                envelope,
                topic,
                done,
            })
            .await
            .map_err(|_| PublishError::Closed)?;
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(PublishError::Backend(e)),
            Err(_) => Err(PublishError::Closed),
        }
    }

    pub(crate) async fn group(&self, topic: Arc<str>, group: Arc<str>) -> Result<(), String> {
        let (done, answer) = oneshot::channel();
        self.tx
            .send(Request::Group { topic, group, done })
            .await
            .map_err(|_| "the durable log is closed".to_owned())?;
        answer
            .await
            .map_err(|_| "the durable log is closed".to_owned())?
    }

    pub(crate) fn settle_sender(&self) -> SettleSender {
        SettleSender(self.tx.clone())
    }

    /// Writes what is queued, syncs, and stops the writer.
    pub(crate) async fn shutdown(&self) {
        let (done, answer) = oneshot::channel();
        if self.tx.send(Request::Shutdown { done }).await.is_ok() {
            let _ = answer.await;
        }
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

struct Writer {
    file: File,
    path: PathBuf,
    size: u64,
    compact_after: u64,
    topics: Arc<Topics>,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        let mut buf = Vec::with_capacity(1 << 20);
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = rx.blocking_recv() {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            let stop = self.write_batch(&mut batch, &mut buf);
            if stop {
                return;
            }
            if self.size > self.compact_after
                && let Err(err) = self.compact()
            {
                tracing::error!(path = %self.path.display(), %err, "bus log compaction failed; the log keeps growing");
                self.compact_after = self.size.saturating_mul(2);
            }
        }
    }

    /// Writes and syncs one batch, then answers it. Returns true on shutdown.
    fn write_batch(&mut self, batch: &mut Vec<Request>, buf: &mut Vec<u8>) -> bool {
        buf.clear();
        let mut must_sync = false;
        for request in batch.iter() {
            match request {
                Request::Publish { envelope, .. } => {
                    record::encode_publish(envelope, buf);
                    must_sync = true;
                }
                Request::Group { topic, group, .. } => {
                    record::encode_group(topic, group, buf);
                    must_sync = true;
                }
                Request::Settle(s) => record::encode_settle(&s.topic, &s.group, &s.id, buf),
                Request::Shutdown { .. } => must_sync = true,
            }
        }
        let result = self
            .file
            .write_all(buf)
            .and_then(|()| {
                if must_sync {
                    self.file.sync_data()
                } else {
                    Ok(())
                }
            })
            .map_err(|e| format!("writing {}: {e}", self.path.display()));
        if result.is_ok() {
            self.size += buf.len() as u64;
        } else if let Err(err) = &result {
            tracing::error!(%err, "bus log write failed; publishes in this batch are refused");
        }
        let mut stop = false;
        for request in batch.drain(..) {
            match request {
                Request::Publish {
                    envelope,
                    topic,
                    done,
                } => {
                    if result.is_ok() {
                        topic.append_committed(envelope);
                    }
                    let _ = done.send(result.clone());
                }
                Request::Group { done, .. } => {
                    let _ = done.send(result.clone());
                }
                Request::Settle(_) => {}
                Request::Shutdown { done } => {
                    let _ = done.send(());
                    stop = true;
                }
            }
        }
        stop
    }

    /// Rewrites the log with what is live, then renames it over the old one.
    fn compact(&mut self) -> io::Result<()> {
        let tmp = self.path.with_extension("compacting");
        let mut buf = Vec::new();
        for (name, topic) in self.topics.all() {
            let state = topic.lock();
            for (group, _) in &state.groups {
                record::encode_group(&name, group, &mut buf);
            }
            for (i, envelope) in state.log.iter().enumerate() {
                // Never in the log, so not in its rewrite either.
                if envelope.transient {
                    continue;
                }
                record::encode_publish(envelope, &mut buf);
                let offset = state.base + i as u64;
                for (group_name, group) in &state.groups {
                    if group.is_settled(offset) {
                        record::encode_settle(&name, group_name, &envelope.id, &mut buf);
                    }
                }
            }
        }
        let mut file = File::create(&tmp)?;
        file.write_all(&buf)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        let before = self.size;
        self.size = buf.len() as u64;
        self.compact_after = self.compact_after.max(self.size.saturating_mul(2));
        tracing::info!(before, after = self.size, "bus log compacted");
        Ok(())
    }
}

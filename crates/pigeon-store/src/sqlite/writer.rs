//! The single writer: one thread owns the only write connection and does group commit.
//!
//! SQLite allows one writer at a time, and the cost of a durable write is the fsync at commit
//! (`synchronous=FULL`), not the SQL. So every write request goes over a bounded channel to
//! this thread, which takes everything queued at that moment (up to `max_batch`), runs each
//! request inside its own SAVEPOINT in one transaction (a failing request rolls back only its
//! own changes), commits once, and only then answers each caller. Under load many sends share
//! one fsync; alone, a request pays one commit as it would anyway.
//!
//! The channel is bounded: when it is full, callers wait (backpressure on the senders rather
//! than memory growth). Serialising writes here is also what makes key claims, duplicate
//! detection and per-device seq allocation atomic without retries.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::error::StoreError;

/// How many commits the writer made and how many requests they carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Transactions committed (one fsync each).
    pub commits: u64,
    /// Write requests answered, successful or not.
    pub requests: u64,
}

impl CommitStats {
    /// Average requests per commit; 0 before the first commit.
    pub fn requests_per_commit(&self) -> f64 {
        if self.commits == 0 {
            0.0
        } else {
            self.requests as f64 / self.commits as f64
        }
    }
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    requests: AtomicU64,
}

/// A queued write: runs inside the batch transaction, answers after the commit.
trait Job: Send {
    /// Runs the operation; `true` if it succeeded (its savepoint is kept).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Sends the answer; `commit` is the batch's fate.
    fn answer(self: Box<Self>, commit: &Result<(), StoreError>);
}

struct Op<F, T, E> {
    op: Option<F>,
    outcome: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Job for Op<F, T, E>
where
    F: FnOnce(&Connection) -> Result<T, E> + Send,
    T: Send,
    E: From<StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(op) = self.op.take() else {
            return false;
        };
        // A bug in one operation must not take the writer (and every later write) down.
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| op(conn)))
            .unwrap_or_else(|_| Err(E::from(StoreError::Backend("write panicked".into()))));
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn answer(self: Box<Self>, commit: &Result<(), StoreError>) {
        let outcome = match (self.outcome, commit) {
            (Some(Ok(_)), Err(e)) => Err(E::from(e.clone())),
            (Some(outcome), _) => outcome,
            (None, _) => Err(E::from(StoreError::Backend("write not run".into()))),
        };
        // The caller may have gone away (cancelled); the write stands either way.
        let _ = self.reply.send(outcome);
    }
}

enum Command {
    Write(Box<dyn Job>),
    Close(oneshot::Sender<()>),
}

/// Handle to the writer thread; cheap to share.
pub(super) struct Writer {
    tx: mpsc::Sender<Command>,
    counters: Arc<Counters>,
}

impl Writer {
    /// Starts the writer thread on an open, migrated connection.
    pub(super) fn start(
        conn: Connection,
        capacity: usize,
        max_batch: usize,
    ) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        thread::Builder::new()
            .name("pigeon-store-writer".into())
            .spawn(move || run(conn, rx, max_batch.max(1), &c))
            .map_err(|e| StoreError::Backend(format!("starting the writer thread: {e}")))?;
        Ok(Self { tx, counters })
    }

    /// Runs `op` in the next batch; resolves after its commit.
    pub(super) async fn write<F, T, E>(&self, op: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job = Op {
            op: Some(op),
            outcome: None,
            reply,
        };
        if self.tx.send(Command::Write(Box::new(job))).await.is_err() {
            return Err(E::from(closed()));
        }
        rx.await.unwrap_or_else(|_| Err(E::from(closed())))
    }

    /// Lets queued writes finish, then stops the thread and closes the connection.
    pub(super) async fn close(&self) {
        let (done, rx) = oneshot::channel();
        if self.tx.send(Command::Close(done)).await.is_ok() {
            let _ = rx.await;
        }
    }

    pub(super) fn stats(&self) -> CommitStats {
        CommitStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            requests: self.counters.requests.load(Ordering::Relaxed),
        }
    }
}

fn closed() -> StoreError {
    StoreError::Backend("the store is closed".into())
}

fn run(conn: Connection, mut rx: mpsc::Receiver<Command>, max_batch: usize, counters: &Counters) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch);
    let mut closing = None;
    while let Some(first) = rx.blocking_recv() {
        match first {
            Command::Write(job) => batch.push(job),
            Command::Close(done) => closing = Some(done),
        }
        while closing.is_none() && batch.len() < max_batch {
            match rx.try_recv() {
                Ok(Command::Write(job)) => batch.push(job),
                Ok(Command::Close(done)) => closing = Some(done),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            commit_batch(&conn, &mut batch, counters);
        }
        if closing.is_some() {
            break;
        }
    }
    rx.close();
    // Answer anything that raced in behind a close, so no caller waits forever.
    while let Ok(cmd) = rx.try_recv() {
        match cmd {
            Command::Write(job) => job.answer(&Err(closed())),
            Command::Close(done) => {
                let _ = done.send(());
            }
        }
    }
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the SQLite write connection");
    }
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

fn commit_batch(conn: &Connection, batch: &mut Vec<Box<dyn Job>>, counters: &Counters) {
    let result = run_batch(conn, batch);
    if result.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
        tracing::error!(requests = batch.len(), "a group commit failed");
    } else {
        counters.commits.fetch_add(1, Ordering::Relaxed);
    }
    counters
        .requests
        .fetch_add(batch.len() as u64, Ordering::Relaxed);
    for job in batch.drain(..) {
        job.answer(&result);
    }
}

fn run_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> Result<(), StoreError> {
    // Cached statements: these run for every request, and parsing them showed in profiles.
    let exec = |sql: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute([]))
            .map(|_| ())
            .map_err(|e| StoreError::Backend(e.to_string()))
    };
    exec("BEGIN IMMEDIATE")?;
    for job in batch.iter_mut() {
        exec("SAVEPOINT request")?;
        if !job.run(conn) {
            exec("ROLLBACK TO request")?;
        }
        exec("RELEASE request")?;
    }
    exec("COMMIT")
}

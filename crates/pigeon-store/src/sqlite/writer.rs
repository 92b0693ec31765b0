//! The single writer: one thread owns the only write connection and does group commit.
//!
//! SQLite allows one writer at a time, and the cost of a durable write is the fsync at commit
//! (`synchronous=FULL`), not the SQL. So every write request goes over a bounded channel to
//! this thread, which takes everything queued at that moment (up to `max_batch`), runs the
//! requests one after the other in one transaction, commits once, and only then answers each
//! caller. Under load many sends share one fsync; alone, a request pays one commit as it would
//! anyway.
//!
//! A request that fails before it changed anything (the usual refusals: a duplicate, a stale
//! device list, an unknown seq — every operation checks before it writes) leaves the batch
//! alone. One that fails after it changed rows (an I/O error, a bug) rolls back the whole
//! batch, and every caller in it gets an error: nothing is committed half-done. A SAVEPOINT per
//! request would confine that rare failure to its own request, but it cost every request a
//! copy of each page it touched into the sub-journal and three more statements: ~7 % of the
//! server's CPU in a profile under `pigeon bench dm`. So operations check everything they can
//! refuse for before their first write.
//!
//! The channel is bounded: when it is full, callers wait (backpressure on the senders rather
//! than memory growth). Serialising writes here is also what makes key claims, duplicate
//! detection and per-device seq allocation atomic without retries, and what lets this thread
//! remember devices and their owners ([`DeviceCache`]): every change to them passes here.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::commit_metrics::CommitMetrics;
use super::device_cache::DeviceCache;
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
    /// Runs the operation; `true` if it succeeded.
    fn run(&mut self, conn: &Connection, devices: &mut DeviceCache) -> bool;
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
    F: FnOnce(&Connection, &mut DeviceCache) -> Result<T, E> + Send,
    T: Send,
    E: From<StoreError> + Send,
{
    fn run(&mut self, conn: &Connection, devices: &mut DeviceCache) -> bool {
        let Some(op) = self.op.take() else {
            return false;
        };
        // A bug in one operation must not take the writer (and every later write) down.
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| op(conn, devices)))
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

    /// Runs `op` in the next batch, with the writer's [`DeviceCache`]; resolves after its
    /// commit.
    pub(super) async fn write<F, T, E>(&self, op: F) -> Result<T, E>
    where
        F: FnOnce(&Connection, &mut DeviceCache) -> Result<T, E> + Send + 'static,
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
    let metrics = CommitMetrics::new();
    let mut devices = DeviceCache::default();
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
            commit_batch(&conn, &mut devices, &mut batch, counters, &metrics);
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

fn commit_batch(
    conn: &Connection,
    devices: &mut DeviceCache,
    batch: &mut Vec<Box<dyn Job>>,
    counters: &Counters,
    metrics: &CommitMetrics,
) {
    let ran = run_batch(conn, devices, batch);
    // The time to end the transaction: the COMMIT (WAL write and fsync), or the ROLLBACK.
    let ending = Instant::now();
    let result = ran.and_then(|()| exec(conn, "COMMIT"));
    if result.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
        // Its requests may have read devices that the rollback took away.
        devices.clear();
    }
    metrics.record(batch.len(), ending.elapsed(), result.is_ok());
    if result.is_err() {
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

/// Runs a statement of the writer's own through the statement cache: these run for every
/// batch, and parsing them showed in profiles.
fn exec(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute([]))
        .map(|_| ())
        .map_err(|e| StoreError::Backend(e.to_string()))
}

/// Opens the batch's transaction and runs its requests; the caller commits.
fn run_batch(
    conn: &Connection,
    devices: &mut DeviceCache,
    batch: &mut [Box<dyn Job>],
) -> Result<(), StoreError> {
    exec(conn, "BEGIN IMMEDIATE")?;
    for job in batch.iter_mut() {
        // Rows changed by completed statements; a statement that fails is undone by SQLite
        // itself and counts none.
        let before = conn.total_changes();
        if !job.run(conn, devices) && conn.total_changes() != before {
            return Err(StoreError::Backend(
                "a write failed after changing rows; its whole group commit was rolled back".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use super::*;
    use crate::sqlite::{accounts, schema};
    use crate::types::UserId;

    fn rows(path: &std::path::Path) -> Vec<i64> {
        let conn = Connection::open(path).unwrap();
        let mut stmt = conn.prepare("SELECT v FROM t ORDER BY v").unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn insert(
        v: i64,
    ) -> impl FnOnce(&Connection, &mut DeviceCache) -> Result<(), StoreError> + Send {
        move |conn, _| {
            conn.execute("INSERT INTO t (v) VALUES (?1)", [v])
                .map(|_| ())
                .map_err(|e| StoreError::Backend(e.to_string()))
        }
    }

    /// Keeps the writer busy for a while, so the requests sent meanwhile share its next batch.
    async fn busy(w: Arc<Writer>) -> Result<(), StoreError> {
        w.write(|_: &Connection, _: &mut DeviceCache| {
            std::thread::sleep(Duration::from_millis(200));
            Ok::<_, StoreError>(())
        })
        .await
    }

    /// Requests queued while the writer is busy share its next batch.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_failing_after_it_wrote_rolls_back_its_batch_and_one_failing_before_does_not()
    {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER PRIMARY KEY)")
            .unwrap();
        let writer = Arc::new(Writer::start(conn, 64, 64).unwrap());

        // Refused before writing (a duplicate key): the others of its batch commit.
        let blocker = tokio::spawn(busy(writer.clone()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (a, dup, b) = tokio::join!(
            writer.write(insert(1)),
            writer.write(insert(1)),
            writer.write(insert(2)),
        );
        blocker.await.unwrap().unwrap();
        assert!(a.is_ok() && dup.is_err() && b.is_ok());
        assert_eq!(rows(&path), vec![1, 2]);

        // Failing after it wrote: nothing of its batch is committed, and every caller hears so.
        let blocker = tokio::spawn(busy(writer.clone()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (c, broken, d) = tokio::join!(
            writer.write(insert(3)),
            writer.write(|conn: &Connection, devices: &mut DeviceCache| {
                insert(4)(conn, devices)?;
                Err::<(), _>(StoreError::Invalid("refused after writing"))
            }),
            writer.write(insert(5)),
        );
        blocker.await.unwrap().unwrap();
        assert!(matches!(broken, Err(StoreError::Invalid(_))));
        assert!(c.is_err() && d.is_err(), "{c:?} {d:?}");
        assert_eq!(rows(&path), vec![1, 2]);

        // The writer goes on.
        writer.write(insert(6)).await.unwrap();
        assert_eq!(rows(&path), vec![1, 2, 6]);
        writer.close().await;
    }

    /// A device read into the cache by a batch that rolls back is forgotten with it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rolled_back_batch_leaves_nothing_in_the_device_cache() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("d.db")).unwrap();
        schema::configure_writer(&conn).unwrap();
        schema::migrate(&mut conn).unwrap();
        let ann = accounts::create_user(&conn, "ann", "phone")
            .unwrap()
            .user_id;
        let writer = Arc::new(Writer::start(conn, 64, 64).unwrap());
        let current = |user: UserId| {
            move |conn: &Connection, devices: &mut DeviceCache| devices.current_devices(conn, &user)
        };
        assert_eq!(writer.write(current(ann.clone())).await.unwrap().len(), 1);

        let blocker = tokio::spawn(busy(writer.clone()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let a = ann.clone();
        let (added, broken) = tokio::join!(
            writer.write(move |conn: &Connection, devices: &mut DeviceCache| {
                devices.forget_user(&a);
                accounts::add_device(conn, &a, "tablet")?;
                devices.current_devices(conn, &a)
            }),
            writer.write(|conn: &Connection, devices: &mut DeviceCache| {
                register_then_fail(conn, devices)
            }),
        );
        blocker.await.unwrap().unwrap();
        assert!(added.is_err() && broken.is_err(), "{added:?} {broken:?}");
        assert_eq!(
            writer.write(current(ann)).await.unwrap().len(),
            1,
            "the tablet was rolled back"
        );
        writer.close().await;
    }

    fn register_then_fail(conn: &Connection, _: &mut DeviceCache) -> Result<(), StoreError> {
        accounts::create_user(conn, "bob", "phone")?;
        Err(StoreError::Invalid("refused after writing"))
    }
}

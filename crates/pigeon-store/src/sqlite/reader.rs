//! Reads: a small pool of read-only connections used on tokio's blocking threads.
//!
//! In WAL mode readers never block the writer nor each other, and each read sees the last
//! committed state, so anything the writer has acknowledged is visible to the next read. A
//! semaphore bounds how many reads run at once (and so how many connections exist); a read
//! waits for a permit rather than opening connections without limit. SQLite calls block, so
//! they run under `spawn_blocking`, never on the async worker threads.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use super::schema;
use crate::error::StoreError;

pub(super) struct Readers {
    path: PathBuf,
    idle: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
}

impl Readers {
    pub(super) fn new(path: PathBuf, size: usize) -> Self {
        Self {
            path,
            idle: Arc::new(Mutex::new(Vec::new())),
            permits: Arc::new(Semaphore::new(size.max(1))),
        }
    }

    /// Runs `op` on a read-only connection, on a blocking thread.
    pub(super) async fn read<F, T>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Backend("the store is closed".into()))?;
        let idle = self.idle.clone();
        let path = self.path.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let pooled = idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => open_reader(&path)?,
            };
            let out = op(&conn);
            idle.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
            out
        });
        task.await
            .map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?
    }

    /// The database file.
    pub(super) fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Drops the idle connections and refuses further reads.
    pub(super) fn close(&self) {
        self.permits.close();
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

fn open_reader(path: &PathBuf) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(|e| StoreError::Backend(format!("opening a read connection: {e}")))?;
    schema::configure_reader(&conn)?;
    Ok(conn)
}

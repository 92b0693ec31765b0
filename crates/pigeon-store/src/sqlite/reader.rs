//! Reads: a small pool of read-only connections used on tokio's blocking threads.
//!
//! In WAL mode readers never block the writer nor each other, and each read sees the last
//! committed state, so anything the writer has acknowledged is visible to the next read. A
//! semaphore bounds how many reads run at once (and so how many connections exist); a read
//! waits for a permit rather than opening connections without limit. SQLite calls block, so
//! they run under `spawn_blocking` — except reads known to be small (a live session's next few
//! mailbox entries), which cost less than the two thread wake-ups of that hop.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
        let permit = self.permit().await?;
        let (idle, path) = (self.idle.clone(), self.path.clone());
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            with_connection(&idle, &path, op)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?
    }

    /// Runs `op` on a read-only connection on the calling thread: only for reads known to be
    /// small (a few index lookups), where the hop to a blocking thread costs more than the read.
    pub(super) async fn read_here<F, T>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError>,
    {
        let _permit = self.permit().await?;
        with_connection(&self.idle, &self.path, op)
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit, StoreError> {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Backend("the store is closed".into()))
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

/// Runs `op` on an idle connection (opened if there is none) and puts it back.
fn with_connection<F, T>(
    idle: &Mutex<Vec<Connection>>,
    path: &PathBuf,
    op: F,
) -> Result<T, StoreError>
where
    F: FnOnce(&Connection) -> Result<T, StoreError>,
{
    let pooled = idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
    let conn = match pooled {
        Some(conn) => conn,
        None => open_reader(path)?,
    };
    let out = op(&conn);
    idle.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(conn);
    out
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

//! The SQLite implementation: the embedded default, one file in the data dir.
//!
//! * `schema`: tables, ordered migrations, pragmas (WAL, `synchronous=FULL`).
//! * `writer`: the one thread that owns the write connection and does group commit;
//!   `commit_metrics` its histograms (commit time, requests a commit); `device_cache` its
//!   memory of device owners and device lists, which every send asks for.
//! * `reader`: a bounded pool of read-only connections on blocking threads (small mailbox
//!   fetches run on the caller's thread).
//! * `accounts`, `keys`, `messages`, `mailbox`, `receipts`, `push`: the SQL of each concern,
//!   as plain synchronous functions over a `Connection`, run by the writer or a reader.
//!
//! Every mutation, and every read that must be atomic with a mutation (a key claim, the
//! duplicate check of a send), goes through the writer; pure reads go to the pool.

mod accounts;
mod commit_metrics;
mod device_cache;
mod keys;
mod mailbox;
mod messages;
mod push;
mod reader;
mod receipts;
mod schema;
mod sql;
mod writer;

use std::path::PathBuf;

use futures::FutureExt;
use futures::future::BoxFuture;
use rusqlite::Connection;

pub use writer::CommitStats;

use self::device_cache::DeviceCache;
use self::reader::Readers;
use self::writer::Writer;
use crate::error::{SendError, StoreError};
use crate::store::Store;
use crate::types::{
    Acked, Authenticated, ClaimedKey, DeviceId, DeviceInfo, DeviceToken, KeyUpload, MailboxEntry,
    MessageId, NewAccount, NewDevice, Receipts, SendOutcome, SendRequest, Unacked, UserId,
};

/// Fetches of at most this many mailbox entries run on the calling thread: a few index
/// lookups and at most a few hundred KiB copied, cheaper than the hop to a blocking thread and
/// back (two thread wake-ups) that a larger read is worth. A live session reads this way.
const INLINE_FETCH: usize = 8;

/// How to open a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteConfig {
    /// The database file; created if missing (its directory must exist).
    pub path: PathBuf,
    /// Read-only connections used at once. Default 4.
    pub readers: usize,
    /// Write requests that may wait for the writer before callers are made to wait. Default 4096.
    pub queue_capacity: usize,
    /// Most write requests in one transaction. Default 1024.
    pub max_batch: usize,
}

impl SqliteConfig {
    /// Defaults for a database at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            readers: 4,
            queue_capacity: 4096,
            max_batch: 1024,
        }
    }
}

/// The SQLite [`Store`].
pub struct SqliteStore {
    writer: Writer,
    readers: Readers,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.readers_path())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating and migrating as needed) the database at `path` with default settings.
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        Self::open_with(SqliteConfig::new(path)).await
    }

    /// Opens with explicit settings. The file is opened and migrated on a blocking thread.
    pub async fn open_with(config: SqliteConfig) -> Result<Self, StoreError> {
        let path = config.path.clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection, StoreError> {
            let mut conn = Connection::open(&path)
                .map_err(|e| StoreError::Backend(format!("opening {}: {e}", path.display())))?;
            schema::configure_writer(&conn)?;
            schema::migrate(&mut conn)?;
            Ok(conn)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("open task failed: {e}")))??;
        Ok(Self {
            writer: Writer::start(conn, config.queue_capacity, config.max_batch)?,
            readers: Readers::new(config.path, config.readers),
        })
    }

    /// Commits made and write requests they carried since open: `requests_per_commit() > 1`
    /// shows group commit at work.
    pub fn commit_stats(&self) -> CommitStats {
        self.writer.stats()
    }

    fn readers_path(&self) -> &std::path::Path {
        self.readers.path()
    }

    fn write<F, T, E>(&self, op: F) -> BoxFuture<'_, Result<T, E>>
    where
        F: FnOnce(&Connection, &mut DeviceCache) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.writer.write(op).boxed()
    }

    fn read<F, T>(&self, op: F) -> BoxFuture<'_, Result<T, StoreError>>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.readers.read(op).boxed()
    }
}

impl Store for SqliteStore {
    fn create_user(
        &self,
        username: String,
        device_name: String,
    ) -> BoxFuture<'_, Result<NewAccount, StoreError>> {
        self.write(move |c, _| accounts::create_user(c, &username, &device_name))
    }

    fn user_by_name(&self, username: String) -> BoxFuture<'_, Result<Option<UserId>, StoreError>> {
        self.read(move |c| accounts::user_by_name(c, &username))
    }

    fn add_device(
        &self,
        user: UserId,
        name: String,
    ) -> BoxFuture<'_, Result<NewDevice, StoreError>> {
        self.write(move |c, devices| {
            devices.forget_user(&user);
            accounts::add_device(c, &user, &name)
        })
    }

    fn remove_device(
        &self,
        user: UserId,
        device: DeviceId,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        self.write(move |c, devices| {
            devices.forget_user(&user);
            accounts::remove_device(c, &user, &device)
        })
    }

    fn devices(&self, user: UserId) -> BoxFuture<'_, Result<Vec<DeviceInfo>, StoreError>> {
        self.read(move |c| accounts::devices(c, &user))
    }

    fn authenticate(
        &self,
        token: DeviceToken,
    ) -> BoxFuture<'_, Result<Option<Authenticated>, StoreError>> {
        // Hash here: the token itself never leaves the caller's thread.
        let hash = token.hash();
        self.read(move |c| accounts::authenticate(c, &hash))
    }

    fn upload_keys(
        &self,
        device: DeviceId,
        upload: KeyUpload,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.write(move |c, _| keys::upload(c, &device, &upload))
    }

    fn identity_keys(&self, device: DeviceId) -> BoxFuture<'_, Result<Option<String>, StoreError>> {
        self.read(move |c| keys::identity(c, &device))
    }

    fn one_time_key_count(&self, device: DeviceId) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.read(move |c| keys::count(c, &device))
    }

    fn claim_key(&self, device: DeviceId) -> BoxFuture<'_, Result<Option<ClaimedKey>, StoreError>> {
        self.write(move |c, _| keys::claim(c, &device))
    }

    fn send(&self, request: SendRequest) -> BoxFuture<'_, Result<SendOutcome, SendError>> {
        self.write(move |c, devices| messages::send(c, devices, &request))
    }

    fn fetch(
        &self,
        device: DeviceId,
        after_seq: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<MailboxEntry>, StoreError>> {
        if limit <= INLINE_FETCH {
            self.readers
                .read_here(move |c| mailbox::fetch(c, &device, after_seq, limit))
                .boxed()
        } else {
            self.read(move |c| mailbox::fetch(c, &device, after_seq, limit))
        }
    }

    fn ack_many(
        &self,
        device: DeviceId,
        seqs: Vec<u64>,
    ) -> BoxFuture<'_, Result<Vec<Acked>, StoreError>> {
        self.write(move |c, devices| receipts::ack(c, devices, &device, &seqs))
    }

    fn pending_count(&self, device: DeviceId) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.read(move |c| mailbox::pending(c, &device))
    }

    fn recent_unacked(
        &self,
        newest: usize,
        window_ms: u64,
    ) -> BoxFuture<'_, Result<Vec<Unacked>, StoreError>> {
        self.read(move |c| mailbox::recent_unacked(c, newest, window_ms))
    }

    fn record_read(
        &self,
        reader: UserId,
        sender: UserId,
        up_to: MessageId,
    ) -> BoxFuture<'_, Result<Option<Receipts>, StoreError>> {
        self.write(move |c, devices| receipts::record_read(c, devices, &reader, &sender, &up_to))
    }

    fn set_push_subscription(
        &self,
        device: DeviceId,
        subscription: String,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        self.write(move |c, _| push::set(c, &device, &subscription))
    }

    fn delete_push_subscription(
        &self,
        device: DeviceId,
        only_if: Option<String>,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.write(move |c, _| push::delete(c, &device, only_if.as_deref()))
    }

    fn push_subscription(
        &self,
        device: DeviceId,
    ) -> BoxFuture<'_, Result<Option<String>, StoreError>> {
        self.read(move |c| push::get(c, &device))
    }

    fn push_subscriptions(
        &self,
        user: UserId,
    ) -> BoxFuture<'_, Result<Vec<(DeviceId, String)>, StoreError>> {
        self.read(move |c| push::list(c, &user))
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        async move {
            self.readers.close();
            self.writer.close().await;
        }
        .boxed()
    }
}

//! [`PostgresStore`]: opening it (pool plus migrations) and the [`Store`] methods, each one
//! line that hands its arguments to the SQL of its concern through `run::read` or
//! `run::write`.
//!
//! The pool is deadpool's: connections are opened on demand up to `max_connections`, reused
//! while healthy (a closed one is replaced at the next checkout), and each keeps its prepared
//! statements. A caller beyond the limit waits for a free connection, which is the
//! backpressure.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures::FutureExt;
use futures::future::BoxFuture;
use pigeon_store::{
    Acked, Authenticated, ClaimedKey, DeviceId, DeviceInfo, DeviceToken, KeyUpload, MailboxEntry,
    MessageId, NewAccount, NewDevice, Receipts, SendError, SendOutcome, SendRequest, Store,
    StoreError, Unacked, UserId,
};
use tokio_postgres::NoTls;

use crate::config::PostgresConfig;
use crate::run::{read, write};
use crate::{accounts, keys, mailbox, messages, push, receipts, schema};

/// The PostgreSQL [`Store`]. Cheap to share behind an `Arc`; any number of them, in any
/// number of processes, may use one database at once.
pub struct PostgresStore {
    pool: Pool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("pool", &self.pool.status())
            .finish()
    }
}

impl PostgresStore {
    /// Connects with default settings (see [`PostgresConfig::new`]) and migrates the schema.
    /// `url` is a libpq-style connection string, as a URL or as `key=value` pairs.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(PostgresConfig::new(url)).await
    }

    /// Connects with explicit settings: checks the database is reachable (the first pooled
    /// connection), creates the configured schema if missing and applies the migrations this
    /// build has and the database lacks.
    pub async fn connect_with(config: PostgresConfig) -> Result<Self, StoreError> {
        let manager = Manager::from_config(
            config.driver_config()?,
            NoTls,
            ManagerConfig {
                // Checking `is_closed` only; a connection that died silently fails one
                // operation, which the caller sees as a `Backend` error, and is then dropped.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.max_connections.max(1))
            .build()
            .map_err(|e| StoreError::Backend(format!("building the connection pool: {e}")))?;
        schema::migrate(&pool, config.schema).await?;
        Ok(Self { pool })
    }
}

impl Store for PostgresStore {
    fn create_user(
        &self,
        username: String,
        device_name: String,
    ) -> BoxFuture<'_, Result<NewAccount, StoreError>> {
        write(&self.pool, (username, device_name), |tx, (name, device)| {
            accounts::create_user(tx, name, device).boxed()
        })
        .boxed()
    }

    fn user_by_name(&self, username: String) -> BoxFuture<'_, Result<Option<UserId>, StoreError>> {
        read(&self.pool, username, |c, name| {
            accounts::user_by_name(c, name).boxed()
        })
        .boxed()
    }

    fn add_device(
        &self,
        user: UserId,
        name: String,
    ) -> BoxFuture<'_, Result<NewDevice, StoreError>> {
        write(&self.pool, (user, name), |tx, (user, name)| {
            accounts::add_device(tx, user, name).boxed()
        })
        .boxed()
    }

    fn remove_device(
        &self,
        user: UserId,
        device: DeviceId,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        write(&self.pool, (user, device), |tx, (user, device)| {
            accounts::remove_device(tx, user, device).boxed()
        })
        .boxed()
    }

    fn devices(&self, user: UserId) -> BoxFuture<'_, Result<Vec<DeviceInfo>, StoreError>> {
        read(&self.pool, user, |c, user| {
            accounts::devices(c, user).boxed()
        })
        .boxed()
    }

    fn authenticate(
        &self,
        token: DeviceToken,
    ) -> BoxFuture<'_, Result<Option<Authenticated>, StoreError>> {
        // Hashed here, so the token itself goes no further.
        let hash = token.hash();
        read(&self.pool, hash, |c, hash| {
            accounts::authenticate(c, hash).boxed()
        })
        .boxed()
    }

    fn upload_keys(
        &self,
        device: DeviceId,
        upload: KeyUpload,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        write(&self.pool, (device, upload), |tx, (device, upload)| {
            keys::upload(tx, device, upload).boxed()
        })
        .boxed()
    }

    fn identity_keys(&self, device: DeviceId) -> BoxFuture<'_, Result<Option<String>, StoreError>> {
        read(&self.pool, device, |c, device| {
            keys::identity(c, device).boxed()
        })
        .boxed()
    }

    fn one_time_key_count(&self, device: DeviceId) -> BoxFuture<'_, Result<u64, StoreError>> {
        read(&self.pool, device, |c, device| {
            keys::count(c, device).boxed()
        })
        .boxed()
    }

    fn claim_key(&self, device: DeviceId) -> BoxFuture<'_, Result<Option<ClaimedKey>, StoreError>> {
        write(&self.pool, device, |tx, device| {
            keys::claim(tx, device).boxed()
        })
        .boxed()
    }

    fn send(&self, request: SendRequest) -> BoxFuture<'_, Result<SendOutcome, SendError>> {
        write(&self.pool, request, |tx, request| {
            messages::send(tx, request).boxed()
        })
        .boxed()
    }

    fn fetch(
        &self,
        device: DeviceId,
        after_seq: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<MailboxEntry>, StoreError>> {
        read(&self.pool, device, move |c, device| {
            mailbox::fetch(c, device, after_seq, limit).boxed()
        })
        .boxed()
    }

    fn ack_many(
        &self,
        device: DeviceId,
        seqs: Vec<u64>,
    ) -> BoxFuture<'_, Result<Vec<Acked>, StoreError>> {
        write(&self.pool, (device, seqs), |tx, (device, seqs)| {
            receipts::ack(tx, device, seqs).boxed()
        })
        .boxed()
    }

    fn pending_count(&self, device: DeviceId) -> BoxFuture<'_, Result<u64, StoreError>> {
        read(&self.pool, device, |c, device| {
            mailbox::pending(c, device).boxed()
        })
        .boxed()
    }

    fn recent_unacked(
        &self,
        newest: usize,
        window_ms: u64,
    ) -> BoxFuture<'_, Result<Vec<Unacked>, StoreError>> {
        read(&self.pool, (newest, window_ms), |c, (newest, window_ms)| {
            mailbox::recent_unacked(c, *newest, *window_ms).boxed()
        })
        .boxed()
    }

    fn record_read(
        &self,
        reader: UserId,
        sender: UserId,
        up_to: MessageId,
    ) -> BoxFuture<'_, Result<Option<Receipts>, StoreError>> {
        write(
            &self.pool,
            (reader, sender, up_to),
            |tx, (reader, sender, up_to)| receipts::record_read(tx, reader, sender, up_to).boxed(),
        )
        .boxed()
    }

    fn set_push_subscription(
        &self,
        device: DeviceId,
        subscription: String,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        write(&self.pool, (device, subscription), |tx, (device, sub)| {
            push::set(tx, device, sub).boxed()
        })
        .boxed()
    }

    fn delete_push_subscription(
        &self,
        device: DeviceId,
        only_if: Option<String>,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        write(&self.pool, (device, only_if), |tx, (device, only_if)| {
            push::delete(tx, device, only_if.as_deref()).boxed()
        })
        .boxed()
    }

    fn push_subscription(
        &self,
        device: DeviceId,
    ) -> BoxFuture<'_, Result<Option<String>, StoreError>> {
        read(&self.pool, device, |c, device| push::get(c, device).boxed()).boxed()
    }

    fn push_subscriptions(
        &self,
        user: UserId,
    ) -> BoxFuture<'_, Result<Vec<(DeviceId, String)>, StoreError>> {
        read(&self.pool, user, |c, user| push::list(c, user).boxed()).boxed()
    }

    /// Closes the pool: idle connections are closed now, and each connection still running an
    /// operation finishes it (a write commits or rolls back as usual) and is closed when it
    /// comes back. Later calls fail with `Backend`. Nothing is queued in this store, so there
    /// is nothing else to wait for.
    fn close(&self) -> BoxFuture<'_, ()> {
        self.pool.close();
        futures::future::ready(()).boxed()
    }
}

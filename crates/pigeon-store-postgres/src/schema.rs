//! The schema and its migrations, applied at connect.
//!
//! Several nodes may start at once against a fresh database, so the whole upgrade runs in one
//! transaction that first takes a transaction-scoped advisory lock: the first node creates the
//! tables and bumps `schema_version`, the others wait on the lock, then (READ COMMITTED: each
//! statement sees what committed before it) find the version current and do nothing. DDL is
//! transactional in PostgreSQL, so a crash mid-upgrade leaves the database at a whole version.
//! A database from a newer Pigeon (a version this build does not know) is refused rather than
//! written to.
//!
//! Column choices: ids and other keys are `TEXT COLLATE "C"` so `ORDER BY` sorts them
//! bytewise, exactly as Rust sorts the same strings (device lists and seqs are reported sorted
//! by id); times are ms since the epoch as `BIGINT`; insertion order that the API exposes (key
//! claims oldest first, read marks in server order) is an identity column, not a timestamp.

use deadpool_postgres::{Pool, Transaction};
use futures::FutureExt;
use pigeon_store::StoreError;

use crate::error::Failure;
use crate::run;

/// The migrations, in order; `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE users (
    user_id    TEXT COLLATE "C" PRIMARY KEY,
    username   TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE TABLE devices (
    device_id     TEXT COLLATE "C" PRIMARY KEY,
    user_id       TEXT COLLATE "C" NOT NULL REFERENCES users(user_id),
    name          TEXT NOT NULL,
    token_hash    BYTEA UNIQUE,
    created_at    BIGINT NOT NULL,
    removed_at    BIGINT,
    last_seq      BIGINT NOT NULL DEFAULT 0,
    identity_keys TEXT
);
CREATE INDEX devices_by_user ON devices(user_id);
CREATE TABLE one_time_keys (
    device_id  TEXT COLLATE "C" NOT NULL,
    key_id     TEXT COLLATE "C" NOT NULL,
    key_order  BIGINT GENERATED ALWAYS AS IDENTITY,
    public_key TEXT NOT NULL,
    signature  TEXT NOT NULL,
    claimed    BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (device_id, key_id)
);
CREATE INDEX one_time_keys_unclaimed ON one_time_keys(device_id, key_order) WHERE NOT claimed;
CREATE TABLE fallback_keys (
    device_id  TEXT COLLATE "C" PRIMARY KEY,
    key_id     TEXT COLLATE "C" NOT NULL,
    public_key TEXT NOT NULL,
    signature  TEXT NOT NULL,
    used       BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE messages (
    msg_order      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id     TEXT COLLATE "C" NOT NULL UNIQUE,
    sender_user    TEXT COLLATE "C" NOT NULL,
    sender_device  TEXT COLLATE "C" NOT NULL,
    client_msg_id  TEXT COLLATE "C" NOT NULL,
    recipient_user TEXT COLLATE "C" NOT NULL,
    sent_at        BIGINT NOT NULL,
    UNIQUE (sender_device, client_msg_id)
);
CREATE TABLE message_targets (
    msg_order    BIGINT NOT NULL,
    device_id    TEXT COLLATE "C" NOT NULL,
    seq          BIGINT NOT NULL,
    delivered_at BIGINT,
    PRIMARY KEY (msg_order, device_id)
);
CREATE TABLE mailbox (
    device_id     TEXT COLLATE "C" NOT NULL,
    seq           BIGINT NOT NULL,
    kind          SMALLINT NOT NULL,
    message_id    TEXT COLLATE "C" NOT NULL,
    peer_user     TEXT COLLATE "C" NOT NULL,
    peer_device   TEXT COLLATE "C",
    envelope_type BIGINT,
    ciphertext    TEXT,
    at            BIGINT NOT NULL,
    PRIMARY KEY (device_id, seq)
);
CREATE TABLE read_marks (
    reader_user TEXT COLLATE "C" NOT NULL,
    sender_user TEXT COLLATE "C" NOT NULL,
    up_to_order BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    PRIMARY KEY (reader_user, sender_user)
);
CREATE TABLE push_subscriptions (
    device_id    TEXT COLLATE "C" PRIMARY KEY,
    subscription TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);
"#,
    // 2: a message's trace context, for deliveries long after the send to link to it.
    "ALTER TABLE mailbox ADD COLUMN trace_context TEXT;",
];

/// The advisory lock key every Pigeon node takes to migrate ("pigeon" in ASCII, then 1). One
/// key for the whole database: nodes of different schemas merely take turns, for milliseconds.
const MIGRATION_LOCK: i64 = 0x7069_6765_6f6e_0001;

/// The schema version this build writes.
fn latest_version() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// Creates `schema` if given and missing, then brings it to [`latest_version`].
pub(crate) async fn migrate(pool: &Pool, schema: Option<String>) -> Result<(), StoreError> {
    run::write(pool, schema, |tx, schema| {
        upgrade(tx, schema.as_deref()).boxed()
    })
    .await
}

async fn upgrade(tx: &Transaction<'_>, schema: Option<&str>) -> Result<(), Failure<StoreError>> {
    tx.batch_execute(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
        .await?;
    if let Some(schema) = schema {
        // Looked up first: `CREATE SCHEMA IF NOT EXISTS` needs the CREATE privilege on the
        // database even when the schema exists, and a deployment may grant only the schema.
        let exists = tx
            .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
            .await?
            .is_some();
        if !exists {
            // The name was checked to need no quoting (config::check_schema_name).
            tx.batch_execute(&format!("CREATE SCHEMA {schema}")).await?;
        }
    }
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        .await?;
    let current: i64 = match tx
        .query_opt("SELECT version FROM schema_version", &[])
        .await?
    {
        Some(row) => row.try_get(0)?,
        None => 0,
    };
    if current > latest_version() {
        return Err(StoreError::Backend(format!(
            "the database has schema version {current}, newer than this build's {}",
            latest_version()
        ))
        .into());
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
    {
        let next = i64::try_from(i + 1).unwrap_or(i64::MAX);
        tx.batch_execute(sql).await?;
        tx.execute("DELETE FROM schema_version", &[]).await?;
        tx.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&next])
            .await?;
        tracing::info!(version = next, ?schema, "applied a storage migration");
    }
    Ok(())
}

//! The schema, its migrations, and the pragmas every connection gets.
//!
//! Migrations are applied in order at open, each in its own transaction together with the bump
//! of `schema_version`, so a crash mid-upgrade leaves the database at a whole version. A
//! database from a newer Pigeon (a version this build does not know) is refused rather than
//! written to.
//!
//! Pragmas: WAL so readers never block the writer; `synchronous=FULL` so a committed send
//! survives power loss, not just a process crash (the server acknowledges a send only after
//! that); a busy timeout so a re-open racing a closing writer waits instead of failing. The
//! sync at each commit is an `fdatasync` of the WAL: the workspace builds the bundled SQLite
//! with `HAVE_FDATASYNC` (`.cargo/config.toml`), as SQLite's own build does on Linux.

use rusqlite::Connection;
use rusqlite::config::DbConfig;

use super::sql::{Db, DbOptional};
use crate::error::StoreError;

/// The migrations, in order; `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE users (
    user_id    TEXT PRIMARY KEY,
    username   TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE devices (
    device_id     TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(user_id),
    name          TEXT NOT NULL,
    token_hash    BLOB UNIQUE,
    created_at    INTEGER NOT NULL,
    removed_at    INTEGER,
    last_seq      INTEGER NOT NULL DEFAULT 0,
    identity_keys TEXT
);
CREATE INDEX devices_by_user ON devices(user_id);
CREATE TABLE one_time_keys (
    device_id  TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature  TEXT NOT NULL,
    claimed    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (device_id, key_id)
);
CREATE INDEX one_time_keys_unclaimed ON one_time_keys(device_id, claimed);
CREATE TABLE fallback_keys (
    device_id  TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature  TEXT NOT NULL,
    used       INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE messages (
    msg_order      INTEGER PRIMARY KEY,
    message_id     TEXT NOT NULL UNIQUE,
    sender_user    TEXT NOT NULL,
    sender_device  TEXT NOT NULL,
    client_msg_id  TEXT NOT NULL,
    recipient_user TEXT NOT NULL,
    sent_at        INTEGER NOT NULL,
    UNIQUE (sender_device, client_msg_id)
);
CREATE TABLE message_targets (
    msg_order    INTEGER NOT NULL,
    device_id    TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    delivered_at INTEGER,
    PRIMARY KEY (msg_order, device_id)
);
CREATE TABLE mailbox (
    device_id     TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    kind          INTEGER NOT NULL,
    message_id    TEXT NOT NULL,
    peer_user     TEXT NOT NULL,
    peer_device   TEXT,
    envelope_type INTEGER,
    ciphertext    TEXT,
    at            INTEGER NOT NULL,
    PRIMARY KEY (device_id, seq)
) WITHOUT ROWID;
CREATE TABLE read_marks (
    reader_user TEXT NOT NULL,
    sender_user TEXT NOT NULL,
    up_to_order INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (reader_user, sender_user)
);
CREATE TABLE push_subscriptions (
    device_id    TEXT PRIMARY KEY,
    subscription TEXT NOT NULL,
    updated_at   INTEGER NOT NULL
);
",
    // 2: a message's trace context, for deliveries long after the send to link to it.
    "ALTER TABLE mailbox ADD COLUMN trace_context TEXT;",
    // 3: tables laid out so that the writes of one group commit share pages. WAL commits write
    // every page they touch in full, so pages touched, not rows, set the writer's cost: 27 a
    // commit under `pigeon bench dm --rate 3000`, 12 of them in the duplicate-send index alone
    // (11 in all after this).
    // - The duplicate-send key leads with `client_msg_id`: the client's ids are UUIDv7 (time
    //   first), so new keys land on the index's last page instead of one page per sender.
    // - `message_targets` is keyed by its primary key (WITHOUT ROWID): one b-tree, not a table
    //   plus an index.
    // - Each mailbox's last seq has a table of its own; in `devices` it shared a row with the
    //   device's keys, ~9 devices a page, where ~90 counters now share one.
    r"
CREATE TABLE messages_v3 (
    msg_order      INTEGER PRIMARY KEY,
    message_id     TEXT NOT NULL UNIQUE,
    sender_user    TEXT NOT NULL,
    sender_device  TEXT NOT NULL,
    client_msg_id  TEXT NOT NULL,
    recipient_user TEXT NOT NULL,
    sent_at        INTEGER NOT NULL,
    UNIQUE (client_msg_id, sender_device)
);
INSERT INTO messages_v3
    SELECT msg_order, message_id, sender_user, sender_device, client_msg_id, recipient_user,
           sent_at
    FROM messages;
DROP TABLE messages;
ALTER TABLE messages_v3 RENAME TO messages;
CREATE TABLE message_targets_v3 (
    msg_order    INTEGER NOT NULL,
    device_id    TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    delivered_at INTEGER,
    PRIMARY KEY (msg_order, device_id)
) WITHOUT ROWID;
INSERT INTO message_targets_v3
    SELECT msg_order, device_id, seq, delivered_at FROM message_targets;
DROP TABLE message_targets;
ALTER TABLE message_targets_v3 RENAME TO message_targets;
CREATE TABLE mailbox_seqs (
    device_id TEXT PRIMARY KEY,
    last_seq  INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO mailbox_seqs (device_id, last_seq) SELECT device_id, last_seq FROM devices;
ALTER TABLE devices DROP COLUMN last_seq;
",
];

/// The schema version this build writes.
pub(super) fn latest_version() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// Prepared statements kept per connection: every statement of this module fits, so none is
/// parsed again (rusqlite's default of 16 made the writer re-parse its statements in turn).
const STATEMENT_CACHE: usize = 64;

/// What every connection gets: a statement cache that holds all our statements, and plans
/// that do not depend on bound values.
///
/// Without the query planner stability guarantee SQLite marks a statement whose plan could
/// depend on a bound value (`LIMIT ?1`, `col = ?1`) to be prepared again when its bindings are
/// cleared — which rusqlite does each time a statement goes back to its cache. Every cached
/// statement was then parsed and planned again at each use: a fifth of the server's CPU under
/// the DM benchmark. Our tables have no statistics (no ANALYZE), so the plans do not change.
fn configure_common(conn: &Connection) -> Result<(), StoreError> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .db()
        .map(|_| ())
}

/// Pragmas for the write connection.
pub(super) fn configure_writer(conn: &Connection) -> Result<(), StoreError> {
    configure_common(conn)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 10000;
         PRAGMA temp_store = MEMORY;",
    )
    .db()
}

/// Pragmas for a read-only connection.
pub(super) fn configure_reader(conn: &Connection) -> Result<(), StoreError> {
    configure_common(conn)?;
    conn.execute_batch("PRAGMA busy_timeout = 10000; PRAGMA query_only = ON;")
        .db()
}

/// Brings the database to [`latest_version`], applying each missing migration in order.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .db()?;
    let current: i64 = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .db_optional()?
        .unwrap_or(0);
    if current > latest_version() {
        return Err(StoreError::Backend(format!(
            "the database has schema version {current}, newer than this build's {}",
            latest_version()
        )));
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
    {
        let next = i64::try_from(i + 1).unwrap_or(i64::MAX);
        let tx = conn.transaction().db()?;
        tx.execute_batch(sql).db()?;
        tx.execute("DELETE FROM schema_version", []).db()?;
        tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [next])
            .db()?;
        tx.commit().db()?;
        tracing::info!(version = next, "applied a storage migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use super::*;

    #[test]
    fn migrations_are_applied_once_and_in_order() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, latest_version());
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
    }

    #[test]
    fn a_database_of_the_first_version_is_brought_up_to_date() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_version (version INTEGER NOT NULL);
             INSERT INTO schema_version (version) VALUES (1);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, latest_version());
        conn.prepare("SELECT trace_context FROM mailbox").unwrap();
    }

    #[test]
    fn a_version_2_database_keeps_its_messages_targets_and_seqs() {
        let mut conn = Connection::open_in_memory().unwrap();
        configure_writer(&conn).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(MIGRATIONS[1]).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_version (version INTEGER NOT NULL);
             INSERT INTO schema_version (version) VALUES (2);
             INSERT INTO users VALUES ('u', 'ann', 0);
             INSERT INTO devices (device_id, user_id, name, created_at, last_seq)
                 VALUES ('d', 'u', 'phone', 0, 7);
             INSERT INTO messages VALUES (5, 'm', 'u', 'd', 'c', 'v', 0);
             INSERT INTO message_targets VALUES (5, 'e', 3, 11);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();

        let seq: i64 = conn
            .query_row(
                "SELECT last_seq FROM mailbox_seqs WHERE device_id = 'd'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(seq, 7);
        assert!(conn.prepare("SELECT last_seq FROM devices").is_err());
        let message: (i64, String) = conn
            .query_row(
                "SELECT msg_order, message_id FROM messages
                 WHERE sender_device = 'd' AND client_msg_id = 'c'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(message, (5, "m".to_string()));
        let target: (i64, i64) = conn
            .query_row(
                "SELECT seq, delivered_at FROM message_targets
                 WHERE msg_order = 5 AND device_id = 'e'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(target, (3, 11));
        // The same client message id from the same device is still refused.
        assert!(
            conn.execute(
                "INSERT INTO messages VALUES (6, 'n', 'u', 'd', 'c', 'v', 0)",
                []
            )
            .is_err()
        );
    }

    #[test]
    fn cached_statements_are_not_prepared_again() {
        let mut conn = Connection::open_in_memory().unwrap();
        configure_writer(&conn).unwrap();
        migrate(&mut conn).unwrap();
        let sql = "SELECT seq FROM mailbox WHERE device_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3";
        for limit in 1..=5 {
            let mut stmt = conn.prepare_cached(sql).unwrap();
            let rows: Vec<i64> = stmt
                .query_map(rusqlite::params!["d", 0, limit], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(rows.is_empty());
        }
        let stmt = conn.prepare_cached(sql).unwrap();
        assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0);
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute("UPDATE schema_version SET version = version + 1", [])
            .unwrap();
        assert!(matches!(migrate(&mut conn), Err(StoreError::Backend(_))));
    }
}

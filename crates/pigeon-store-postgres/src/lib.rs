//! PostgreSQL storage for Pigeon's direct-messaging server: [`PostgresStore`] implements
//! [`pigeon_store::Store`] and passes the same conformance suite as the embedded SQLite store.
//!
//! Why a second implementation: SQLite is one file behind one writer thread, so it cannot be
//! shared by several server processes. With PostgreSQL, several `pigeon serve` nodes share one
//! database, and everything the trait promises (gapless per-device seqs, once-only key claims,
//! idempotent sends, monotonic read marks) holds across their connections, not just within one
//! process. How, in short: each mutation is one READ COMMITTED transaction whose invariant is
//! guarded by a row lock or a unique constraint it upserts against (see `run` and each
//! module's docs), and `Ok` is returned only after `COMMIT` (so with PostgreSQL's default
//! `synchronous_commit = on`, after the WAL reached disk).
//!
//! Using it: connect once at start-up and hold it as an `Arc<dyn Store>`. Connecting runs the
//! built-in migrations, so the first node to start creates the tables and the others wait for
//! it (an advisory lock), then find them.
//!
//! ```no_run
//! # async fn demo() -> Result<(), pigeon_store::StoreError> {
//! use std::sync::Arc;
//! use pigeon_store::Store;
//! use pigeon_store_postgres::{PostgresConfig, PostgresStore};
//!
//! // Defaults: tables in the connection's search_path, at most 16 connections.
//! let store: Arc<dyn Store> =
//!     Arc::new(PostgresStore::connect("postgres://pigeon:secret@db.internal/pigeon").await?);
//!
//! // Or: tables in their own schema (created if missing), a bigger pool.
//! let mut config = PostgresConfig::new("host=db.internal user=pigeon dbname=pigeon");
//! config.schema = Some("pigeon".into());
//! config.max_connections = 32;
//! let store: Arc<dyn Store> = Arc::new(PostgresStore::connect_with(config).await?);
//! # Ok(())
//! # }
//! ```
//!
//! The modules: `config` (how to connect), `store` (the [`Store`](pigeon_store::Store)
//! methods, each handed to the SQL of its concern), `run` (pooled connections, transactions,
//! retries), `error` (failures before they become the trait's errors), `schema` (migrations),
//! `sql` (statement and conversion helpers), and one module per
//! concern, as in the SQLite store: `accounts`, `keys`, `messages`, `mailbox`, `receipts`,
//! `push`.
//!
//! Not supported yet: TLS to the database (connections use `NoTls`, so keep the database on a
//! private network or a local socket).

mod accounts;
mod config;
mod error;
mod keys;
mod mailbox;
mod messages;
mod push;
mod receipts;
mod run;
mod schema;
mod sql;
mod store;

pub use config::PostgresConfig;
pub use store::PostgresStore;

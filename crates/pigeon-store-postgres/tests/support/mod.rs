//! Shared by the integration tests: reaching PostgreSQL (or skipping loudly), and a schema of
//! each test's own, dropped when the test ends, so tests and concurrent runs never collide.
//!
//! The database is `PIGEON_TEST_POSTGRES`, by default the local one with trust auth. With
//! `CI=true` an unreachable database is a failure; elsewhere the test prints why it skipped.

// Not every test file uses every helper; failing loudly is the point of a test helper.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pigeon_store_postgres::PostgresConfig;
use tokio::sync::OnceCell;
use tokio_postgres::{Client, NoTls};

/// Prefix of every schema the tests create, so sweeps touch nothing else.
const TEST_PREFIX: &str = "pigeon_test_";

/// The database: `PIGEON_TEST_POSTGRES`, or the local default.
pub(crate) fn postgres_url() -> String {
    std::env::var("PIGEON_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// True when running in CI, where nothing may be skipped.
pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A schema of one test's own, dropped with it.
pub(crate) struct TestSchema {
    url: String,
    name: String,
}

impl TestSchema {
    /// A fresh schema name on the test database, or `None` (skip) when the database is
    /// unreachable and we are not in CI. The schema itself is created by the first store
    /// that connects with [`TestSchema::config`].
    pub(crate) async fn new() -> Option<Self> {
        let url = postgres_url();
        match connect(&url, None).await {
            Ok(admin) => {
                sweep_once(&admin).await;
                let name = format!("{TEST_PREFIX}{}", uuid::Uuid::now_v7().simple());
                Some(Self { url, name })
            }
            Err(e) => {
                let why =
                    format!("no PostgreSQL at {url} ({e}); start one or set PIGEON_TEST_POSTGRES");
                assert!(!in_ci(), "CI=true and {why}");
                eprintln!("skipping: {why}");
                None
            }
        }
    }

    /// A store configuration for this schema.
    pub(crate) fn config(&self) -> PostgresConfig {
        let mut config = PostgresConfig::new(&self.url);
        config.schema = Some(self.name.clone());
        config.max_connections = 8;
        config
    }

    /// A plain connection whose search path is this schema, to look under the store.
    pub(crate) async fn client(&self) -> Client {
        connect(&self.url, Some(&self.name)).await.unwrap()
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot block on a future; a thread with
        // a runtime of its own can.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let admin = connect(&url, None).await?;
                drop_schema(&admin, &name).await
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("leaving test schema {} behind: {e}", self.name),
            Err(_) => eprintln!(
                "leaving test schema {} behind: the drop panicked",
                self.name
            ),
        }
    }
}

/// A connection, optionally with `schema` as its search path; its driver runs on the current
/// runtime.
async fn connect(url: &str, schema: Option<&str>) -> Result<Client, tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = url.parse()?;
    config.connect_timeout(Duration::from_secs(5));
    if let Some(schema) = schema {
        config.options(format!("-c search_path={schema}"));
    }
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

async fn drop_schema(admin: &Client, name: &str) -> Result<(), tokio_postgres::Error> {
    // A connection left mid-transaction must not hang the test run.
    admin.batch_execute("SET lock_timeout = '10s'").await?;
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
        .await
}

/// Drops test schemas older than an hour, once per test process: ones a killed run left.
/// Their names carry a UUIDv7, whose first 48 bits are its creation time in ms.
async fn sweep_once(admin: &Client) {
    static SWEPT: OnceCell<()> = OnceCell::const_new();
    SWEPT
        .get_or_init(|| async {
            let Ok(rows) = admin
                .query(
                    "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)",
                    &[&TEST_PREFIX],
                )
                .await
            else {
                return;
            };
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis();
            for row in rows {
                let name: String = row.get(0);
                let created_ms = name
                    .strip_prefix(TEST_PREFIX)
                    .and_then(|hex| hex.get(..12))
                    .and_then(|hex| u128::from_str_radix(hex, 16).ok());
                if created_ms.is_some_and(|t| now_ms.saturating_sub(t) > 3_600_000) {
                    let _ = drop_schema(admin, &name).await;
                }
            }
        })
        .await;
}

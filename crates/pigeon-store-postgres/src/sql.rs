//! Small helpers shared by the SQL modules: cached statements, integer conversions, the clock.
//!
//! Statements are prepared once per connection and cached (deadpool's statement cache), so a
//! query costs one round trip instead of a parse round trip plus an execute round trip. The
//! helpers take any [`GenericClient`], so reads on a plain pooled connection and writes inside
//! a transaction share the same lookups.
//!
//! PostgreSQL's `BIGINT` is signed; the API speaks `u64`. Values never come near `i64::MAX`
//! (seqs, counts, milliseconds), and the conversions say so by failing loudly rather than
//! wrapping.

use std::time::{SystemTime, UNIX_EPOCH};

use deadpool_postgres::GenericClient;
use pigeon_store::StoreError;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// Query parameters, as the driver takes them.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// At most one row.
pub(crate) async fn query_opt<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<Row>, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.query_opt(&statement, params).await
}

/// Exactly one row.
pub(crate) async fn query_one<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Row, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.query_one(&statement, params).await
}

/// All rows.
pub(crate) async fn query<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.query(&statement, params).await
}

/// The number of rows changed.
pub(crate) async fn execute<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<u64, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.execute(&statement, params).await
}

/// A `u64` from the API as a `BIGINT`; `Invalid` beyond `i64::MAX`.
pub(crate) fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Invalid("number out of range"))
}

/// A `BIGINT` from the database as a `u64`; a negative one means a corrupt row.
pub(crate) fn to_u64(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Backend(format!("negative value {v} in the database")))
}

/// Now, in ms since the Unix epoch, as the API reports it.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Now, in ms since the Unix epoch, as the database stores it.
pub(crate) fn now() -> i64 {
    i64::try_from(now_ms()).unwrap_or(i64::MAX)
}

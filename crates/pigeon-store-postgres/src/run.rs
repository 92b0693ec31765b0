//! Running operations on pooled connections: reads as single autocommit statements, every
//! mutation as one transaction, committed before it answers.
//!
//! Isolation is PostgreSQL's default, READ COMMITTED, with explicit locking instead of
//! SERIALIZABLE: each invariant the trait promises is guarded by one row that the operation
//! locks (a device's `last_seq` for its mailbox, a key row for a claim, a read mark) or by a
//! unique constraint it upserts against (usernames, `(sender_device, client_msg_id)`). A
//! waiter then re-reads the committed row and acts on it, so concurrent nodes agree without
//! whole-transaction aborts; SERIALIZABLE would make hot mailboxes abort and retry under load
//! instead. Rows are locked in one order (device ids ascending, after any message or read-mark
//! row), so deadlocks should not happen; if one does, or a serialization failure, PostgreSQL
//! has already rolled the transaction back and it is simply run again, a few times.
//!
//! Operations are plain functions given the transaction and their arguments by reference, so
//! a retry can run them again without the caller cloning anything.

use std::time::Duration;

use deadpool_postgres::{Client, ClientWrapper, Pool, PoolError, Transaction};
use futures::future::BoxFuture;
use pigeon_store::StoreError;

use crate::error::{Failure, backend, is_transient};

/// Tries of one transaction before a transient error is reported.
const ATTEMPTS: u32 = 5;

/// Runs a read on a pooled connection, outside any explicit transaction.
pub(crate) async fn read<A, T, F>(pool: &Pool, args: A, op: F) -> Result<T, StoreError>
where
    A: Sync,
    F: for<'a> FnOnce(&'a Client, &'a A) -> BoxFuture<'a, Result<T, Failure<StoreError>>>,
{
    let client = connection(pool).await?;
    match op(&client, &args).await {
        Ok(value) => Ok(value),
        Err(Failure::Refused(e)) => Err(e),
        Err(Failure::Db(e)) => Err(backend(&e)),
    }
}

/// Runs `op` in a transaction and commits it; `Ok` means committed. A refusal rolls back and
/// is returned; a transient database error rolls back and runs `op` again.
pub(crate) async fn write<A, T, E, F>(pool: &Pool, args: A, op: F) -> Result<T, E>
where
    A: Sync,
    E: From<StoreError>,
    F: Sync + for<'a> Fn(&'a Transaction<'a>, &'a A) -> BoxFuture<'a, Result<T, Failure<E>>>,
{
    let mut attempt = 1;
    loop {
        let mut client = connection(pool).await?;
        match once(&mut client, &args, &op).await {
            Ok(value) => return Ok(value),
            Err(Failure::Refused(e)) => return Err(e),
            Err(Failure::Db(e)) if is_transient(&e) && attempt < ATTEMPTS => {
                tracing::debug!(attempt, error = %backend(&e), "retrying a rolled-back transaction");
                drop(client);
                tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(Failure::Db(e)) => return Err(backend(&e).into()),
        }
    }
}

async fn once<A, T, E, F>(client: &mut ClientWrapper, args: &A, op: &F) -> Result<T, Failure<E>>
where
    F: for<'a> Fn(&'a Transaction<'a>, &'a A) -> BoxFuture<'a, Result<T, Failure<E>>>,
{
    let tx = client.transaction().await?;
    let outcome = op(&tx, args).await;
    match outcome {
        Ok(value) => {
            tx.commit().await?;
            Ok(value)
        }
        Err(failure) => {
            // Awaited, so the connection goes back to the pool idle. If the rollback fails the
            // connection is broken, and the server rolls back when it notices.
            if let Err(e) = tx.rollback().await {
                tracing::debug!(error = %backend(&e), "rollback failed");
            }
            Err(failure)
        }
    }
}

/// A connection from the pool, opening one if none is idle and the pool is not full.
async fn connection(pool: &Pool) -> Result<Client, StoreError> {
    pool.get().await.map_err(|e| match e {
        PoolError::Closed => StoreError::Backend("the store is closed".into()),
        PoolError::Backend(e) => backend(&e),
        other => StoreError::Backend(format!("no database connection: {other}")),
    })
}

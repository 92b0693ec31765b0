//! How an operation fails inside this crate, before it becomes the trait's error.
//!
//! The runner must tell a refusal (not found, stale devices…: final, answer the caller) from a
//! database error, and among database errors the transient ones PostgreSQL asks us to retry
//! (deadlock, serialization failure). [`StoreError::Backend`] is a string, so the SQLSTATE
//! would be lost by converting early; [`Failure`] keeps the driver's error until the runner
//! has decided.

use pigeon_store::{SendError, StoreError};
use tokio_postgres::error::SqlState;

/// Why a unit of work failed.
#[derive(Debug)]
pub(crate) enum Failure<E> {
    /// The operation refused; the transaction is rolled back and `E` is the answer.
    Refused(E),
    /// PostgreSQL (or the connection to it) failed.
    Db(tokio_postgres::Error),
}

impl<E> From<tokio_postgres::Error> for Failure<E> {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(e)
    }
}

impl From<StoreError> for Failure<StoreError> {
    fn from(e: StoreError) -> Self {
        Self::Refused(e)
    }
}

impl From<SendError> for Failure<SendError> {
    fn from(e: SendError) -> Self {
        Self::Refused(e)
    }
}

impl From<StoreError> for Failure<SendError> {
    fn from(e: StoreError) -> Self {
        Self::Refused(SendError::Store(e))
    }
}

impl From<Failure<StoreError>> for Failure<SendError> {
    fn from(f: Failure<StoreError>) -> Self {
        match f {
            Failure::Refused(e) => Self::Refused(SendError::Store(e)),
            Failure::Db(e) => Self::Db(e),
        }
    }
}

/// The driver's error as the trait reports it: [`describe`]d, as `Backend`.
pub(crate) fn backend(e: &tokio_postgres::Error) -> StoreError {
    StoreError::Backend(describe(e))
}

/// The driver's error as text. A database error keeps only its SQLSTATE and message: its
/// DETAIL can quote row values (a unique violation names the duplicate key), and those must
/// not reach logs. Other errors name their kind only, so their causes (refused connection,
/// timeout…) are appended.
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("postgres {}: {}", db.code().code(), db.message());
    }
    let mut text = format!("postgres: {e}");
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// Errors after which PostgreSQL has rolled the transaction back and running it again is the
/// documented remedy.
pub(crate) fn is_transient(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|code| {
        *code == SqlState::T_R_DEADLOCK_DETECTED || *code == SqlState::T_R_SERIALIZATION_FAILURE
    })
}

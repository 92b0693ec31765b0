//! Small helpers shared by the SQLite modules: error mapping and integer conversions.
//!
//! SQLite stores signed 64-bit integers; the API speaks `u64`. Values never come near
//! `i64::MAX` (seqs, counts, milliseconds), and the conversions say so by failing loudly as
//! `Backend` rather than wrapping.

use rusqlite::OptionalExtension;

use crate::error::StoreError;

/// Turns a rusqlite result into a store result (`Backend`, with the engine's message: never
/// row contents, which SQLite does not put into error messages).
pub(super) trait Db<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> Db<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::Backend(e.to_string()))
    }
}

/// `query_row` that may find nothing.
pub(super) trait DbOptional<T> {
    fn db_optional(self) -> Result<Option<T>, StoreError>;
}

impl<T> DbOptional<T> for rusqlite::Result<T> {
    fn db_optional(self) -> Result<Option<T>, StoreError> {
        self.optional().db()
    }
}

pub(super) fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Invalid("number out of range"))
}

pub(super) fn to_u64(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Backend(format!("negative value {v} in the database")))
}

/// Now, in ms since the Unix epoch, as SQLite stores it.
pub(super) fn now() -> i64 {
    i64::try_from(crate::types::now_ms()).unwrap_or(i64::MAX)
}

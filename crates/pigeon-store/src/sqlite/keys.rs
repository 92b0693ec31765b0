//! The key directory: identity keys, one-time keys and the fallback key of each device.
//!
//! A claimed one-time key keeps its row, marked `claimed`, so re-uploading its key id cannot
//! make it claimable again: each one-time key is handed out once ever. Claims run on the
//! single writer, so two concurrent claimers are serialised and never see the same row.

use rusqlite::{Connection, params};

use super::accounts::owner_of;
use super::sql::{Db, DbOptional, to_u64};
use crate::error::StoreError;
use crate::types::{ClaimedKey, DeviceId, KeyUpload, SignedKey};

pub(super) fn upload(
    conn: &Connection,
    device: &DeviceId,
    upload: &KeyUpload,
) -> Result<u64, StoreError> {
    owner_of(conn, device)?;
    if let Some(identity) = &upload.identity {
        conn.prepare_cached("UPDATE devices SET identity_keys = ?2 WHERE device_id = ?1")
            .db()?
            .execute(params![device.as_str(), identity])
            .db()?;
    }
    {
        let mut insert = conn
            .prepare_cached(
                "INSERT OR IGNORE INTO one_time_keys (device_id, key_id, public_key, signature)
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .db()?;
        for key in &upload.one_time_keys {
            insert
                .execute(params![
                    device.as_str(),
                    key.key_id,
                    key.public_key,
                    key.signature
                ])
                .db()?;
        }
    }
    if let Some(key) = &upload.fallback {
        conn.prepare_cached(
            "INSERT INTO fallback_keys (device_id, key_id, public_key, signature, used)
             VALUES (?1, ?2, ?3, ?4, 0)
             ON CONFLICT (device_id) DO UPDATE SET
                 key_id = excluded.key_id, public_key = excluded.public_key,
                 signature = excluded.signature, used = 0
             WHERE fallback_keys.key_id <> excluded.key_id",
        )
        .db()?
        .execute(params![
            device.as_str(),
            key.key_id,
            key.public_key,
            key.signature
        ])
        .db()?;
    }
    unclaimed(conn, device)
}

pub(super) fn identity(conn: &Connection, device: &DeviceId) -> Result<Option<String>, StoreError> {
    conn.prepare_cached(
        "SELECT identity_keys FROM devices WHERE device_id = ?1 AND removed_at IS NULL",
    )
    .db()?
    .query_row([device.as_str()], |r| r.get::<_, Option<String>>(0))
    .db_optional()?
    .ok_or(StoreError::NotFound("device"))
}

pub(super) fn count(conn: &Connection, device: &DeviceId) -> Result<u64, StoreError> {
    owner_of(conn, device)?;
    unclaimed(conn, device)
}

fn unclaimed(conn: &Connection, device: &DeviceId) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM one_time_keys WHERE device_id = ?1 AND claimed = 0")
        .db()?
        .query_row([device.as_str()], |r| r.get(0))
        .db()?;
    to_u64(n)
}

pub(super) fn claim(
    conn: &Connection,
    device: &DeviceId,
) -> Result<Option<ClaimedKey>, StoreError> {
    owner_of(conn, device)?;
    let one_time = conn
        .prepare_cached(
            "UPDATE one_time_keys SET claimed = 1
             WHERE rowid = (SELECT rowid FROM one_time_keys
                            WHERE device_id = ?1 AND claimed = 0 ORDER BY rowid LIMIT 1)
             RETURNING key_id, public_key, signature",
        )
        .db()?
        .query_row([device.as_str()], signed_key)
        .db_optional()?;
    if let Some(key) = one_time {
        return Ok(Some(ClaimedKey {
            key,
            fallback: false,
        }));
    }
    let fallback = conn
        .prepare_cached(
            "UPDATE fallback_keys SET used = 1 WHERE device_id = ?1
             RETURNING key_id, public_key, signature",
        )
        .db()?
        .query_row([device.as_str()], signed_key)
        .db_optional()?;
    Ok(fallback.map(|key| ClaimedKey {
        key,
        fallback: true,
    }))
}

fn signed_key(r: &rusqlite::Row<'_>) -> rusqlite::Result<SignedKey> {
    Ok(SignedKey {
        key_id: r.get(0)?,
        public_key: r.get(1)?,
        signature: r.get(2)?,
    })
}

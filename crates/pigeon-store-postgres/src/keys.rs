//! The key directory: identity keys, one-time keys and the fallback key of each device.
//!
//! A claimed one-time key keeps its row, marked `claimed`, so re-uploading its key id cannot
//! make it claimable again: each one-time key is handed out once ever. Concurrent claimers
//! (on any node) each lock the oldest unclaimed row nobody else holds (`FOR UPDATE SKIP
//! LOCKED`), so they never get the same key and never queue behind each other. The fallback
//! key is one row per device; claiming it is a plain `UPDATE`, which serialises on that row.
//!
//! An upload locks the device row first, so it cannot race the device's removal and leave
//! keys behind (see `accounts`).

use deadpool_postgres::{Client, GenericClient, Transaction};
use pigeon_store::{ClaimedKey, DeviceId, KeyUpload, SignedKey, StoreError};
use tokio_postgres::Row;

use crate::accounts::{current_owner, lock_current};
use crate::error::Failure;
use crate::sql::{execute, query_one, query_opt, to_u64};

pub(crate) async fn upload(
    tx: &Transaction<'_>,
    device: &DeviceId,
    upload: &KeyUpload,
) -> Result<u64, Failure<StoreError>> {
    lock_current(tx, device).await?;
    if let Some(identity) = &upload.identity {
        execute(
            tx,
            "UPDATE devices SET identity_keys = $2 WHERE device_id = $1",
            &[&device.as_str(), identity],
        )
        .await?;
    }
    if !upload.one_time_keys.is_empty() {
        let column = |f: fn(&SignedKey) -> &str| -> Vec<&str> {
            upload.one_time_keys.iter().map(f).collect()
        };
        // One statement for the whole batch; `ORDER BY n` makes `key_order` follow the
        // upload's order, which is the order claims hand the keys out in.
        execute(
            tx,
            "INSERT INTO one_time_keys (device_id, key_id, public_key, signature)
             SELECT $1, k.key_id, k.public_key, k.signature
             FROM unnest($2::text[], $3::text[], $4::text[])
                  WITH ORDINALITY AS k(key_id, public_key, signature, n)
             ORDER BY k.n
             ON CONFLICT (device_id, key_id) DO NOTHING",
            &[
                &device.as_str(),
                &column(|k| k.key_id.as_str()),
                &column(|k| k.public_key.as_str()),
                &column(|k| k.signature.as_str()),
            ],
        )
        .await?;
    }
    if let Some(key) = &upload.fallback {
        execute(
            tx,
            "INSERT INTO fallback_keys (device_id, key_id, public_key, signature, used)
             VALUES ($1, $2, $3, $4, FALSE)
             ON CONFLICT (device_id) DO UPDATE SET
                 key_id = excluded.key_id, public_key = excluded.public_key,
                 signature = excluded.signature, used = FALSE
             WHERE fallback_keys.key_id <> excluded.key_id",
            &[
                &device.as_str(),
                &key.key_id,
                &key.public_key,
                &key.signature,
            ],
        )
        .await?;
    }
    unclaimed(tx, device).await
}

pub(crate) async fn identity(
    c: &Client,
    device: &DeviceId,
) -> Result<Option<String>, Failure<StoreError>> {
    let row = query_opt(
        c,
        "SELECT identity_keys FROM devices WHERE device_id = $1 AND removed_at IS NULL",
        &[&device.as_str()],
    )
    .await?
    .ok_or(StoreError::NotFound("device"))?;
    Ok(row.try_get(0)?)
}

pub(crate) async fn count(c: &Client, device: &DeviceId) -> Result<u64, Failure<StoreError>> {
    current_owner(c, device).await?;
    unclaimed(c, device).await
}

async fn unclaimed<C: GenericClient>(c: &C, device: &DeviceId) -> Result<u64, Failure<StoreError>> {
    let row = query_one(
        c,
        "SELECT count(*) FROM one_time_keys WHERE device_id = $1 AND NOT claimed",
        &[&device.as_str()],
    )
    .await?;
    Ok(to_u64(row.try_get(0)?)?)
}

pub(crate) async fn claim(
    tx: &Transaction<'_>,
    device: &DeviceId,
) -> Result<Option<ClaimedKey>, Failure<StoreError>> {
    current_owner(tx, device).await?;
    let one_time = query_opt(
        tx,
        "UPDATE one_time_keys SET claimed = TRUE
         WHERE device_id = $1 AND key_id = (
             SELECT key_id FROM one_time_keys WHERE device_id = $1 AND NOT claimed
             ORDER BY key_order LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING key_id, public_key, signature",
        &[&device.as_str()],
    )
    .await?;
    if let Some(row) = one_time {
        return Ok(Some(ClaimedKey {
            key: signed_key(&row)?,
            fallback: false,
        }));
    }
    let fallback = query_opt(
        tx,
        "UPDATE fallback_keys SET used = TRUE WHERE device_id = $1
         RETURNING key_id, public_key, signature",
        &[&device.as_str()],
    )
    .await?;
    match fallback {
        Some(row) => Ok(Some(ClaimedKey {
            key: signed_key(&row)?,
            fallback: true,
        })),
        None => Ok(None),
    }
}

fn signed_key(row: &Row) -> Result<SignedKey, tokio_postgres::Error> {
    Ok(SignedKey {
        key_id: row.try_get(0)?,
        public_key: row.try_get(1)?,
        signature: row.try_get(2)?,
    })
}

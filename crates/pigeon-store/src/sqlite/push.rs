//! Push subscriptions: one opaque serialized subscription (Web Push or webhook JSON) per device.

use rusqlite::{Connection, params};

use super::accounts::{ensure_user, owner_of};
use super::sql::{Db, DbOptional, now};
use crate::error::StoreError;
use crate::types::{DeviceId, UserId};

pub(super) fn set(
    conn: &Connection,
    device: &DeviceId,
    subscription: &str,
) -> Result<(), StoreError> {
    owner_of(conn, device)?;
    conn.prepare_cached(
        "INSERT INTO push_subscriptions (device_id, subscription, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (device_id) DO UPDATE
             SET subscription = excluded.subscription, updated_at = excluded.updated_at",
    )
    .db()?
    .execute(params![device.as_str(), subscription, now()])
    .db()?;
    Ok(())
}

pub(super) fn delete(
    conn: &Connection,
    device: &DeviceId,
    only_if: Option<&str>,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "DELETE FROM push_subscriptions
             WHERE device_id = ?1 AND (?2 IS NULL OR subscription = ?2)",
        )
        .db()?
        .execute(params![device.as_str(), only_if])
        .db()?;
    Ok(n > 0)
}

pub(super) fn get(conn: &Connection, device: &DeviceId) -> Result<Option<String>, StoreError> {
    conn.prepare_cached("SELECT subscription FROM push_subscriptions WHERE device_id = ?1")
        .db()?
        .query_row([device.as_str()], |r| r.get(0))
        .db_optional()
}

pub(super) fn list(
    conn: &Connection,
    user: &UserId,
) -> Result<Vec<(DeviceId, String)>, StoreError> {
    ensure_user(conn, user)?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT p.device_id, p.subscription FROM push_subscriptions p
             JOIN devices d ON d.device_id = p.device_id
             WHERE d.user_id = ?1 AND d.removed_at IS NULL ORDER BY p.device_id",
        )
        .db()?;
    let rows = stmt
        .query_map([user.as_str()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .db()?;
    let mut out = Vec::new();
    for row in rows {
        let (device, sub) = row.db()?;
        out.push((DeviceId::from_string(device), sub));
    }
    Ok(out)
}

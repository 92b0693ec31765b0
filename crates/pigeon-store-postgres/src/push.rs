//! Push subscriptions: one opaque serialized subscription (Web Push or webhook JSON) per
//! device. Setting one locks the device row first, so it cannot outlive a racing removal.

use deadpool_postgres::{Client, Transaction};
use pigeon_store::{DeviceId, StoreError, UserId};

use crate::accounts::{ensure_user, lock_current};
use crate::error::Failure;
use crate::sql::{execute, now, query, query_opt};

pub(crate) async fn set(
    tx: &Transaction<'_>,
    device: &DeviceId,
    subscription: &str,
) -> Result<(), Failure<StoreError>> {
    lock_current(tx, device).await?;
    execute(
        tx,
        "INSERT INTO push_subscriptions (device_id, subscription, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (device_id) DO UPDATE
             SET subscription = excluded.subscription, updated_at = excluded.updated_at",
        &[&device.as_str(), &subscription, &now()],
    )
    .await?;
    Ok(())
}

pub(crate) async fn delete(
    tx: &Transaction<'_>,
    device: &DeviceId,
    only_if: Option<&str>,
) -> Result<bool, Failure<StoreError>> {
    let deleted = execute(
        tx,
        "DELETE FROM push_subscriptions
         WHERE device_id = $1 AND ($2::text IS NULL OR subscription = $2)",
        &[&device.as_str(), &only_if],
    )
    .await?;
    Ok(deleted > 0)
}

pub(crate) async fn get(
    c: &Client,
    device: &DeviceId,
) -> Result<Option<String>, Failure<StoreError>> {
    let row = query_opt(
        c,
        "SELECT subscription FROM push_subscriptions WHERE device_id = $1",
        &[&device.as_str()],
    )
    .await?;
    Ok(match row {
        Some(row) => Some(row.try_get(0)?),
        None => None,
    })
}

pub(crate) async fn list(
    c: &Client,
    user: &UserId,
) -> Result<Vec<(DeviceId, String)>, Failure<StoreError>> {
    ensure_user(c, user).await?;
    let rows = query(
        c,
        "SELECT p.device_id, p.subscription FROM push_subscriptions p
         JOIN devices d ON d.device_id = p.device_id
         WHERE d.user_id = $1 AND d.removed_at IS NULL ORDER BY p.device_id",
        &[&user.as_str()],
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push((
            DeviceId::from_string(row.try_get::<_, String>(0)?),
            row.try_get(1)?,
        ));
    }
    Ok(out)
}

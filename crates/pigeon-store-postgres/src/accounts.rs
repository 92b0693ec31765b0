//! Users, devices and device tokens.
//!
//! A removed device keeps its row (messages it sent still name it) but loses its token hash,
//! keys, push subscription and mailbox, so it can neither authenticate nor be targeted.
//! Removal locks the device row while it deletes, and whatever else writes on a device's
//! behalf locks that row first ([`lock_current`], or the seq bump of a mailbox append), then
//! re-checks it is current. So a write racing a removal on another node either lands before
//! it (and is deleted with the rest) or finds the device gone; nothing is left behind.

use deadpool_postgres::{Client, GenericClient, Transaction};
use pigeon_store::{
    Authenticated, DeviceId, DeviceInfo, DeviceToken, NewAccount, NewDevice, StoreError, UserId,
};

use crate::error::Failure;
use crate::sql::{execute, now, query, query_opt, to_u64};

pub(crate) async fn create_user(
    tx: &Transaction<'_>,
    username: &str,
    device_name: &str,
) -> Result<NewAccount, Failure<StoreError>> {
    if username.is_empty() {
        return Err(StoreError::Invalid("empty username").into());
    }
    let user_id = UserId::generate();
    // A conflicting insert from another node waits for it to commit, then inserts nothing.
    let inserted = execute(
        tx,
        "INSERT INTO users (user_id, username, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (username) DO NOTHING",
        &[&user_id.as_str(), &username, &now()],
    )
    .await?;
    if inserted == 0 {
        return Err(StoreError::Conflict("username taken").into());
    }
    let NewDevice { device_id, token } = insert_device(tx, &user_id, device_name).await?;
    Ok(NewAccount {
        user_id,
        device_id,
        token,
    })
}

pub(crate) async fn user_by_name(
    c: &Client,
    username: &str,
) -> Result<Option<UserId>, Failure<StoreError>> {
    let row = query_opt(
        c,
        "SELECT user_id FROM users WHERE username = $1",
        &[&username],
    )
    .await?;
    Ok(match row {
        Some(row) => Some(UserId::from_string(row.try_get::<_, String>(0)?)),
        None => None,
    })
}

pub(crate) async fn add_device(
    tx: &Transaction<'_>,
    user: &UserId,
    name: &str,
) -> Result<NewDevice, Failure<StoreError>> {
    ensure_user(tx, user).await?;
    insert_device(tx, user, name).await
}

async fn insert_device(
    tx: &Transaction<'_>,
    user: &UserId,
    name: &str,
) -> Result<NewDevice, Failure<StoreError>> {
    if name.is_empty() {
        return Err(StoreError::Invalid("empty device name").into());
    }
    let device_id = DeviceId::generate();
    let token = DeviceToken::generate()?;
    execute(
        tx,
        "INSERT INTO devices (device_id, user_id, name, token_hash, created_at)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &device_id.as_str(),
            &user.as_str(),
            &name,
            &token.hash(),
            &now(),
        ],
    )
    .await?;
    Ok(NewDevice { device_id, token })
}

pub(crate) async fn remove_device(
    tx: &Transaction<'_>,
    user: &UserId,
    device: &DeviceId,
) -> Result<(), Failure<StoreError>> {
    let changed = execute(
        tx,
        "UPDATE devices SET removed_at = $3, token_hash = NULL, identity_keys = NULL
         WHERE device_id = $1 AND user_id = $2 AND removed_at IS NULL",
        &[&device.as_str(), &user.as_str(), &now()],
    )
    .await?;
    if changed == 0 {
        return Err(StoreError::NotFound("device").into());
    }
    for sql in [
        "DELETE FROM one_time_keys WHERE device_id = $1",
        "DELETE FROM fallback_keys WHERE device_id = $1",
        "DELETE FROM push_subscriptions WHERE device_id = $1",
        "DELETE FROM mailbox WHERE device_id = $1",
    ] {
        execute(tx, sql, &[&device.as_str()]).await?;
    }
    Ok(())
}

pub(crate) async fn devices(
    c: &Client,
    user: &UserId,
) -> Result<Vec<DeviceInfo>, Failure<StoreError>> {
    ensure_user(c, user).await?;
    let rows = query(
        c,
        "SELECT device_id, name, created_at FROM devices
         WHERE user_id = $1 AND removed_at IS NULL ORDER BY created_at, device_id",
        &[&user.as_str()],
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(DeviceInfo {
            device_id: DeviceId::from_string(row.try_get::<_, String>(0)?),
            name: row.try_get(1)?,
            created_at_ms: to_u64(row.try_get(2)?)?,
        });
    }
    Ok(out)
}

pub(crate) async fn authenticate(
    c: &Client,
    token_hash: &[u8],
) -> Result<Option<Authenticated>, Failure<StoreError>> {
    let row = query_opt(
        c,
        "SELECT user_id, device_id FROM devices WHERE token_hash = $1 AND removed_at IS NULL",
        &[&token_hash],
    )
    .await?;
    Ok(match row {
        Some(row) => Some(Authenticated {
            user_id: UserId::from_string(row.try_get::<_, String>(0)?),
            device_id: DeviceId::from_string(row.try_get::<_, String>(1)?),
        }),
        None => None,
    })
}

/// Whether the user exists.
pub(crate) async fn user_exists<C: GenericClient>(
    c: &C,
    user: &UserId,
) -> Result<bool, tokio_postgres::Error> {
    Ok(query_opt(
        c,
        "SELECT 1 FROM users WHERE user_id = $1",
        &[&user.as_str()],
    )
    .await?
    .is_some())
}

/// `NotFound` unless the user exists.
pub(crate) async fn ensure_user<C: GenericClient>(
    c: &C,
    user: &UserId,
) -> Result<(), Failure<StoreError>> {
    if user_exists(c, user).await? {
        Ok(())
    } else {
        Err(StoreError::NotFound("user").into())
    }
}

/// The owner of a current (not removed) device.
pub(crate) async fn owner_of<C: GenericClient>(
    c: &C,
    device: &DeviceId,
) -> Result<Option<UserId>, tokio_postgres::Error> {
    let row = query_opt(
        c,
        "SELECT user_id FROM devices WHERE device_id = $1 AND removed_at IS NULL",
        &[&device.as_str()],
    )
    .await?;
    row.map(|r| r.try_get::<_, String>(0).map(UserId::from_string))
        .transpose()
}

/// The owner of a current device, `NotFound` otherwise.
pub(crate) async fn current_owner<C: GenericClient>(
    c: &C,
    device: &DeviceId,
) -> Result<UserId, Failure<StoreError>> {
    owner_of(c, device)
        .await?
        .ok_or_else(|| StoreError::NotFound("device").into())
}

/// Locks a current device's row until the transaction ends, so it cannot be removed (nor its
/// mailbox appended to) meanwhile; `NotFound` if it is not current, also when a removal
/// committed while this waited for the lock.
pub(crate) async fn lock_current(
    tx: &Transaction<'_>,
    device: &DeviceId,
) -> Result<(), Failure<StoreError>> {
    query_opt(
        tx,
        "SELECT 1 FROM devices WHERE device_id = $1 AND removed_at IS NULL FOR NO KEY UPDATE",
        &[&device.as_str()],
    )
    .await?
    .ok_or(StoreError::NotFound("device"))?;
    Ok(())
}

/// The user's current devices, sorted by id.
pub(crate) async fn current_devices<C: GenericClient>(
    c: &C,
    user: &UserId,
) -> Result<Vec<DeviceId>, tokio_postgres::Error> {
    let rows = query(
        c,
        "SELECT device_id FROM devices WHERE user_id = $1 AND removed_at IS NULL
         ORDER BY device_id",
        &[&user.as_str()],
    )
    .await?;
    rows.iter()
        .map(|r| r.try_get::<_, String>(0).map(DeviceId::from_string))
        .collect()
}

//! Users, devices and device tokens.
//!
//! A removed device keeps its row (messages it sent still name it) but loses its token hash,
//! keys, push subscription and mailbox, so it can neither authenticate nor be targeted.

use rusqlite::{Connection, params};

use super::sql::{Db, DbOptional, now, to_u64};
use crate::error::StoreError;
use crate::types::{
    Authenticated, DeviceId, DeviceInfo, DeviceToken, NewAccount, NewDevice, UserId,
};

pub(super) fn create_user(
    conn: &Connection,
    username: &str,
    device_name: &str,
) -> Result<NewAccount, StoreError> {
    if username.is_empty() {
        return Err(StoreError::Invalid("empty username"));
    }
    // Every refusal before the first write: the writer rolls back a request's whole batch
    // when it fails after writing.
    check_device_name(device_name)?;
    let taken = conn
        .prepare_cached("SELECT 1 FROM users WHERE username = ?1")
        .db()?
        .query_row([username], |_| Ok(()))
        .db_optional()?
        .is_some();
    if taken {
        return Err(StoreError::Conflict("username taken"));
    }
    let user_id = UserId::generate();
    conn.prepare_cached("INSERT INTO users (user_id, username, created_at) VALUES (?1, ?2, ?3)")
        .db()?
        .execute(params![user_id.as_str(), username, now()])
        .db()?;
    let NewDevice { device_id, token } = insert_device(conn, &user_id, device_name)?;
    Ok(NewAccount {
        user_id,
        device_id,
        token,
    })
}

pub(super) fn user_by_name(
    conn: &Connection,
    username: &str,
) -> Result<Option<UserId>, StoreError> {
    conn.prepare_cached("SELECT user_id FROM users WHERE username = ?1")
        .db()?
        .query_row([username], |r| r.get::<_, String>(0))
        .db_optional()
        .map(|id| id.map(UserId::from_string))
}

pub(super) fn add_device(
    conn: &Connection,
    user: &UserId,
    name: &str,
) -> Result<NewDevice, StoreError> {
    check_device_name(name)?;
    ensure_user(conn, user)?;
    insert_device(conn, user, name)
}

fn check_device_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty() {
        return Err(StoreError::Invalid("empty device name"));
    }
    Ok(())
}

fn insert_device(conn: &Connection, user: &UserId, name: &str) -> Result<NewDevice, StoreError> {
    let device_id = DeviceId::generate();
    let token = DeviceToken::generate()?;
    conn.prepare_cached(
        "INSERT INTO devices (device_id, user_id, name, token_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .db()?
    .execute(params![
        device_id.as_str(),
        user.as_str(),
        name,
        token.hash(),
        now()
    ])
    .db()?;
    conn.prepare_cached("INSERT INTO mailbox_seqs (device_id, last_seq) VALUES (?1, 0)")
        .db()?
        .execute([device_id.as_str()])
        .db()?;
    Ok(NewDevice { device_id, token })
}

pub(super) fn remove_device(
    conn: &Connection,
    user: &UserId,
    device: &DeviceId,
) -> Result<(), StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE devices SET removed_at = ?3, token_hash = NULL, identity_keys = NULL
             WHERE device_id = ?1 AND user_id = ?2 AND removed_at IS NULL",
        )
        .db()?
        .execute(params![device.as_str(), user.as_str(), now()])
        .db()?;
    if changed == 0 {
        return Err(StoreError::NotFound("device"));
    }
    for table in [
        "one_time_keys",
        "fallback_keys",
        "push_subscriptions",
        "mailbox",
    ] {
        conn.execute(
            &format!("DELETE FROM {table} WHERE device_id = ?1"),
            [device.as_str()],
        )
        .db()?;
    }
    Ok(())
}

pub(super) fn devices(conn: &Connection, user: &UserId) -> Result<Vec<DeviceInfo>, StoreError> {
    ensure_user(conn, user)?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT device_id, name, created_at FROM devices
             WHERE user_id = ?1 AND removed_at IS NULL ORDER BY created_at, device_id",
        )
        .db()?;
    let rows = stmt
        .query_map([user.as_str()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .db()?;
    let mut out = Vec::new();
    for row in rows {
        let (id, name, created) = row.db()?;
        out.push(DeviceInfo {
            device_id: DeviceId::from_string(id),
            name,
            created_at_ms: to_u64(created)?,
        });
    }
    Ok(out)
}

pub(super) fn authenticate(
    conn: &Connection,
    token_hash: &[u8],
) -> Result<Option<Authenticated>, StoreError> {
    conn.prepare_cached(
        "SELECT user_id, device_id FROM devices WHERE token_hash = ?1 AND removed_at IS NULL",
    )
    .db()?
    .query_row([token_hash], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })
    .db_optional()
    .map(|found| {
        found.map(|(user, device)| Authenticated {
            user_id: UserId::from_string(user),
            device_id: DeviceId::from_string(device),
        })
    })
}

/// `NotFound` unless the user exists.
pub(super) fn ensure_user(conn: &Connection, user: &UserId) -> Result<(), StoreError> {
    conn.prepare_cached("SELECT 1 FROM users WHERE user_id = ?1")
        .db()?
        .query_row([user.as_str()], |_| Ok(()))
        .db_optional()?
        .ok_or(StoreError::NotFound("user"))
}

/// The owner of a current (not removed) device; `NotFound` otherwise.
pub(super) fn owner_of(conn: &Connection, device: &DeviceId) -> Result<UserId, StoreError> {
    conn.prepare_cached("SELECT user_id FROM devices WHERE device_id = ?1 AND removed_at IS NULL")
        .db()?
        .query_row([device.as_str()], |r| r.get::<_, String>(0))
        .db_optional()?
        .map(UserId::from_string)
        .ok_or(StoreError::NotFound("device"))
}

/// The user's current devices, sorted by id.
pub(super) fn current_devices(
    conn: &Connection,
    user: &UserId,
) -> Result<Vec<DeviceId>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT device_id FROM devices WHERE user_id = ?1 AND removed_at IS NULL
             ORDER BY device_id",
        )
        .db()?;
    let rows = stmt
        .query_map([user.as_str()], |r| r.get::<_, String>(0))
        .db()?;
    let mut out = Vec::new();
    for row in rows {
        out.push(DeviceId::from_string(row.db()?));
    }
    Ok(out)
}

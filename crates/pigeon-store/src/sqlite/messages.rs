//! Accepting a message: duplicate detection, the device-list check, and one mailbox entry per
//! target device, all inside one request of the writer (so in one transaction).
//!
//! Duplicates are checked first: a retry must get its original answer even if the device lists
//! changed since. Because every send runs on the single writer, two racing copies of the same
//! send are serialised and the second finds the first; the UNIQUE constraint on
//! `(sender_device, client_msg_id)` is the backstop.

use rusqlite::{Connection, params};

use super::accounts::ensure_user;
use super::device_cache::DeviceCache;
use super::mailbox;
use super::sql::{Db, DbOptional, to_i64, to_u64};
use crate::error::{SendError, StoreError};
use crate::types::{DeviceId, MailboxItem, MessageId, SendOutcome, SendRequest, now_ms};

pub(super) fn send(
    conn: &Connection,
    devices: &mut DeviceCache,
    req: &SendRequest,
) -> Result<SendOutcome, SendError> {
    if req.client_msg_id.is_empty() {
        return Err(SendError::Invalid("empty client_msg_id"));
    }
    if let Some(original) = find_original(conn, req)? {
        return Ok(original);
    }
    let sender_user = match devices.owner_of(conn, &req.sender_device) {
        Ok(user) => user,
        Err(StoreError::NotFound(_)) => return Err(SendError::UnknownSender),
        Err(e) => return Err(e.into()),
    };
    // A user with a device exists: the users table is asked only when there is none.
    let recipient_devices = devices.current_devices(conn, &req.recipient_user)?;
    if recipient_devices.is_empty() {
        match ensure_user(conn, &req.recipient_user) {
            Err(StoreError::NotFound(_)) => return Err(SendError::UnknownRecipient),
            other => other?,
        }
    }
    req.check_targets(
        &sender_user,
        recipient_devices,
        devices.current_devices(conn, &sender_user)?,
    )?;

    let message_id = MessageId::generate();
    let sent_at_ms = now_ms();
    let msg_order: i64 = conn
        .prepare_cached(
            "INSERT INTO messages
                (message_id, sender_user, sender_device, client_msg_id, recipient_user, sent_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING msg_order",
        )
        .db()?
        .query_row(
            params![
                message_id.as_str(),
                sender_user.as_str(),
                req.sender_device.as_str(),
                req.client_msg_id,
                req.recipient_user.as_str(),
                to_i64(sent_at_ms)?,
            ],
            |r| r.get(0),
        )
        .db()?;
    let mut seqs = Vec::with_capacity(req.copies.len());
    for copy in &req.copies {
        let seq = mailbox::append(
            conn,
            &copy.device_id,
            &MailboxItem::Message {
                message_id: message_id.clone(),
                sender_user: sender_user.clone(),
                sender_device: req.sender_device.clone(),
                envelope_type: copy.envelope_type,
                ciphertext: copy.ciphertext.clone(),
                sent_at_ms,
                trace_context: req.trace_context.clone(),
            },
        )?;
        conn.prepare_cached(
            "INSERT INTO message_targets (msg_order, device_id, seq) VALUES (?1, ?2, ?3)",
        )
        .db()?
        .execute(params![msg_order, copy.device_id.as_str(), to_i64(seq)?])
        .db()?;
        seqs.push((copy.device_id.clone(), seq));
    }
    seqs.sort();
    Ok(SendOutcome {
        message_id,
        sent_at_ms,
        seqs,
        duplicate: false,
    })
}

/// The outcome of an earlier send with the same `(sender_device, client_msg_id)`, if any.
fn find_original(conn: &Connection, req: &SendRequest) -> Result<Option<SendOutcome>, StoreError> {
    let found = conn
        .prepare_cached(
            "SELECT msg_order, message_id, sent_at FROM messages
             WHERE sender_device = ?1 AND client_msg_id = ?2",
        )
        .db()?
        .query_row(
            params![req.sender_device.as_str(), req.client_msg_id],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            },
        )
        .db_optional()?;
    let Some((msg_order, message_id, sent_at)) = found else {
        return Ok(None);
    };
    let mut stmt = conn
        .prepare_cached(
            "SELECT device_id, seq FROM message_targets WHERE msg_order = ?1 ORDER BY device_id",
        )
        .db()?;
    let rows = stmt
        .query_map([msg_order], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })
        .db()?;
    let mut seqs = Vec::new();
    for row in rows {
        let (device, seq) = row.db()?;
        seqs.push((DeviceId::from_string(device), to_u64(seq)?));
    }
    Ok(Some(SendOutcome {
        message_id: MessageId::from_string(message_id),
        sent_at_ms: to_u64(sent_at)?,
        seqs,
        duplicate: true,
    }))
}

//! Per-device mailboxes: an append-only stream with a gapless per-device `seq`.
//!
//! The next seq is `devices.last_seq + 1`, bumped in the same (writer) transaction that inserts
//! the entry, so seqs are assigned without gaps or repeats even when many sends race, and a
//! rolled-back request gives its seqs back. An acked entry is deleted: it is never returned
//! again and its ciphertext does not linger on disk. Acks are per entry, not cumulative, so a
//! device that acks 5 before 4 (4's live delivery timed out and went to push) does not lose 4.

use rusqlite::{Connection, params};

use super::accounts::owner_of;
use super::sql::{Db, DbOptional, to_i64, to_u64};
use crate::error::StoreError;
use crate::types::{DeviceId, MailboxEntry, MailboxItem, MessageId, UserId};

const KIND_MESSAGE: i64 = 1;
const KIND_DELIVERY: i64 = 2;
const KIND_READ: i64 = 3;

/// Appends `item` to the device's mailbox and returns its seq.
pub(super) fn append(
    conn: &Connection,
    device: &DeviceId,
    item: &MailboxItem,
) -> Result<u64, StoreError> {
    let seq: i64 = conn
        .prepare_cached(
            "UPDATE devices SET last_seq = last_seq + 1 WHERE device_id = ?1 RETURNING last_seq",
        )
        .db()?
        .query_row([device.as_str()], |r| r.get(0))
        .db()?;
    let trace_context = match item {
        MailboxItem::Message { trace_context, .. } => trace_context.as_deref(),
        _ => None,
    };
    let (kind, message_id, peer_user, peer_device, envelope_type, ciphertext, at) = match item {
        MailboxItem::Message {
            message_id,
            sender_user,
            sender_device,
            envelope_type,
            ciphertext,
            sent_at_ms,
            ..
        } => (
            KIND_MESSAGE,
            message_id,
            sender_user,
            Some(sender_device.as_str()),
            Some(*envelope_type),
            Some(ciphertext.as_str()),
            *sent_at_ms,
        ),
        MailboxItem::DeliveryReceipt {
            message_id,
            by_user,
            by_device,
            at_ms,
        } => (
            KIND_DELIVERY,
            message_id,
            by_user,
            Some(by_device.as_str()),
            None,
            None,
            *at_ms,
        ),
        MailboxItem::ReadReceipt {
            peer_user,
            up_to_message_id,
            at_ms,
        } => (
            KIND_READ,
            up_to_message_id,
            peer_user,
            None,
            None,
            None,
            *at_ms,
        ),
    };
    conn.prepare_cached(
        "INSERT INTO mailbox
            (device_id, seq, kind, message_id, peer_user, peer_device, envelope_type,
             ciphertext, at, trace_context)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .db()?
    .execute(params![
        device.as_str(),
        seq,
        kind,
        message_id.as_str(),
        peer_user.as_str(),
        peer_device,
        envelope_type,
        ciphertext,
        to_i64(at)?,
        trace_context,
    ])
    .db()?;
    to_u64(seq)
}

pub(super) fn fetch(
    conn: &Connection,
    device: &DeviceId,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<MailboxEntry>, StoreError> {
    owner_of(conn, device)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, kind, message_id, peer_user, peer_device, envelope_type, ciphertext, at,
                    trace_context
             FROM mailbox WHERE device_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )
        .db()?;
    let rows = stmt
        .query_map(params![device.as_str(), to_i64(after_seq)?, limit], |r| {
            Ok(Row {
                seq: r.get(0)?,
                kind: r.get(1)?,
                message_id: r.get(2)?,
                peer_user: r.get(3)?,
                peer_device: r.get(4)?,
                envelope_type: r.get(5)?,
                ciphertext: r.get(6)?,
                at: r.get(7)?,
                trace_context: r.get(8)?,
            })
        })
        .db()?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row.db()?.into_entry()?);
    }
    Ok(out)
}

struct Row {
    seq: i64,
    kind: i64,
    message_id: String,
    peer_user: String,
    peer_device: Option<String>,
    envelope_type: Option<u32>,
    ciphertext: Option<String>,
    at: i64,
    trace_context: Option<String>,
}

impl Row {
    fn into_entry(self) -> Result<MailboxEntry, StoreError> {
        let corrupt = || StoreError::Backend(format!("malformed mailbox row (seq {})", self.seq));
        let message_id = MessageId::from_string(self.message_id.clone());
        let peer_user = UserId::from_string(self.peer_user.clone());
        let at_ms = to_u64(self.at)?;
        let item = match self.kind {
            KIND_MESSAGE => MailboxItem::Message {
                message_id,
                sender_user: peer_user,
                sender_device: DeviceId::from_string(self.peer_device.clone().ok_or_else(corrupt)?),
                envelope_type: self.envelope_type.ok_or_else(corrupt)?,
                ciphertext: self.ciphertext.clone().ok_or_else(corrupt)?,
                sent_at_ms: at_ms,
                trace_context: self.trace_context.clone(),
            },
            KIND_DELIVERY => MailboxItem::DeliveryReceipt {
                message_id,
                by_user: peer_user,
                by_device: DeviceId::from_string(self.peer_device.clone().ok_or_else(corrupt)?),
                at_ms,
            },
            KIND_READ => MailboxItem::ReadReceipt {
                peer_user,
                up_to_message_id: message_id,
                at_ms,
            },
            _ => return Err(corrupt()),
        };
        Ok(MailboxEntry {
            seq: to_u64(self.seq)?,
            item,
        })
    }
}

pub(super) fn ack(conn: &Connection, device: &DeviceId, seq: u64) -> Result<bool, StoreError> {
    let last: i64 = conn
        .prepare_cached("SELECT last_seq FROM devices WHERE device_id = ?1 AND removed_at IS NULL")
        .db()?
        .query_row([device.as_str()], |r| r.get(0))
        .db_optional()?
        .ok_or(StoreError::NotFound("device"))?;
    if seq == 0 || seq > to_u64(last)? {
        return Err(StoreError::Invalid("seq was never assigned to this device"));
    }
    let deleted = conn
        .prepare_cached("DELETE FROM mailbox WHERE device_id = ?1 AND seq = ?2")
        .db()?
        .execute(params![device.as_str(), to_i64(seq)?])
        .db()?;
    Ok(deleted > 0)
}

pub(super) fn pending(conn: &Connection, device: &DeviceId) -> Result<u64, StoreError> {
    owner_of(conn, device)?;
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM mailbox WHERE device_id = ?1")
        .db()?
        .query_row([device.as_str()], |r| r.get(0))
        .db()?;
    to_u64(n)
}

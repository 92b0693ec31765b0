//! Per-device mailboxes: an append-only stream with a gapless per-device `seq`.
//!
//! The next seq is `mailbox_seqs.last_seq + 1`, bumped in the same (writer) transaction that
//! inserts the entry, so seqs are assigned without gaps or repeats even when many sends race,
//! and a rolled-back request gives its seqs back. An acked entry is deleted: it is never returned
//! again and its ciphertext does not linger on disk. Acks are per entry, not cumulative, so a
//! device that acks 5 before 4 (4's live delivery timed out and went to push) does not lose 4.

use rusqlite::{Connection, params};

use super::accounts::owner_of;
use super::sql::{Db, DbOptional, to_i64, to_u64};
use crate::error::StoreError;
use crate::mailbox_row::{MailboxKind, MailboxRow};
use crate::types::{DeviceId, MailboxEntry, MailboxItem, MessageId, Unacked, UserId};

/// Appends `item` to the device's mailbox and returns its seq.
pub(super) fn append(
    conn: &Connection,
    device: &DeviceId,
    item: &MailboxItem,
) -> Result<u64, StoreError> {
    let seq: i64 = conn
        .prepare_cached(
            "UPDATE mailbox_seqs SET last_seq = last_seq + 1
             WHERE device_id = ?1 RETURNING last_seq",
        )
        .db()?
        .query_row([device.as_str()], |r| r.get(0))
        .db()?;
    let row = MailboxRow::of(item);
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
        row.kind.code(),
        row.message_id,
        row.peer_user,
        row.peer_device,
        row.envelope_type,
        row.ciphertext,
        to_i64(row.at_ms)?,
        row.trace_context,
    ])
    .db()?;
    to_u64(seq)
}

/// Up to `limit` entries after `after_seq`. The device is looked up only when there are none:
/// entries are appended only to current devices and deleted with the device (both in the
/// writer), so entries found are a current device's. A live session's reads mostly find
/// entries, and the lookup was ~6 % of the server's async CPU in `pigeon bench dm`.
pub(super) fn fetch(
    conn: &Connection,
    device: &DeviceId,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<MailboxEntry>, StoreError> {
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
    if out.is_empty() {
        owner_of(conn, device)?;
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
        let seq = to_u64(self.seq)?;
        let kind = MailboxKind::from_stored(self.kind, seq)?;
        let row = MailboxRow {
            kind,
            message_id: self.message_id,
            peer_user: self.peer_user,
            peer_device: self.peer_device,
            envelope_type: self.envelope_type,
            ciphertext: self.ciphertext,
            at_ms: to_u64(self.at)?,
            trace_context: self.trace_context,
        };
        Ok(MailboxEntry {
            seq,
            item: row.into_item(seq)?,
        })
    }
}

/// The owner of a current device and the last seq its mailbox assigned: what an ack checks
/// its seqs against, before it writes anything. `NotFound` for an unknown or removed device.
pub(super) fn owner_and_last_seq(
    conn: &Connection,
    device: &DeviceId,
) -> Result<(UserId, u64), StoreError> {
    let (owner, last) = conn
        .prepare_cached(
            "SELECT d.user_id, s.last_seq FROM devices d JOIN mailbox_seqs s USING (device_id)
             WHERE d.device_id = ?1 AND d.removed_at IS NULL",
        )
        .db()?
        .query_row([device.as_str()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })
        .db_optional()?
        .ok_or(StoreError::NotFound("device"))?;
    Ok((UserId::from_string(owner), to_u64(last)?))
}

/// Deletes one entry of the device's own mailbox; returns what it was — its kind and message
/// id — or `None` when an earlier ack took it. The caller checked the seq was assigned
/// ([`owner_and_last_seq`]).
pub(super) fn take(
    conn: &Connection,
    device: &DeviceId,
    seq: u64,
) -> Result<Option<(MailboxKind, MessageId)>, StoreError> {
    let taken = conn
        .prepare_cached(
            "DELETE FROM mailbox WHERE device_id = ?1 AND seq = ?2 RETURNING kind, message_id",
        )
        .db()?
        .query_row(params![device.as_str(), to_i64(seq)?], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .db_optional()?;
    let Some((kind, message_id)) = taken else {
        return Ok(None);
    };
    let kind = MailboxKind::from_stored(kind, seq)?;
    Ok(Some((kind, MessageId::from_string(message_id))))
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

pub(super) fn recent_unacked(
    conn: &Connection,
    newest: usize,
    window_ms: u64,
) -> Result<Vec<Unacked>, StoreError> {
    let newest = i64::try_from(newest).unwrap_or(i64::MAX);
    let mut stmt = conn
        .prepare_cached(
            "WITH recent AS (
                 SELECT msg_order, message_id, sender_user, recipient_user, sent_at FROM messages
                 ORDER BY msg_order DESC LIMIT ?1
             )
             SELECT r.message_id, r.sender_user, r.recipient_user, t.device_id, t.seq
             FROM recent r
             JOIN message_targets t ON t.msg_order = r.msg_order
             JOIN mailbox b ON b.device_id = t.device_id AND b.seq = t.seq
             WHERE r.sent_at >= (SELECT max(sent_at) FROM recent) - ?2
             ORDER BY r.msg_order, t.device_id",
        )
        .db()?;
    let rows = stmt
        .query_map(params![newest, to_i64(window_ms)?], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .db()?
        .map(|row| {
            let (message_id, sender, recipient, device, seq) = row.db()?;
            Ok((
                MessageId::from_string(message_id),
                UserId::from_string(sender),
                UserId::from_string(recipient),
                DeviceId::from_string(device),
                to_u64(seq)?,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Unacked::group(rows))
}

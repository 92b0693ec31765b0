//! Per-device mailboxes: an append-only stream with a gapless per-device `seq`.
//!
//! The next seq is `devices.last_seq + 1`, bumped by an `UPDATE … RETURNING` in the same
//! transaction that inserts the entry. The `UPDATE` holds the device row's lock until commit,
//! so appends to one device from any number of nodes take turns, each sees the previous one's
//! committed seq, and a rolled-back append gives its seq back: no gaps, no repeats. Writers
//! that append to several devices lock them in ascending id order, so two of them cannot
//! deadlock. The same `UPDATE` re-checks `removed_at`, so an append never lands in the mailbox
//! of a device removed meanwhile.
//!
//! An acked entry is deleted: it is never returned again and its ciphertext does not linger.
//! Acks are per entry, not cumulative, so a device that acks 5 before 4 does not lose 4.

use deadpool_postgres::{Client, Transaction};
use pigeon_store::{
    DeviceId, MailboxEntry, MailboxItem, MailboxKind, MailboxRow, MessageId, StoreError, Unacked,
    UserId,
};
use tokio_postgres::Row;

use crate::accounts::current_owner;
use crate::error::Failure;
use crate::sql::{execute, query, query_one, query_opt, to_i64, to_u64};

/// Appends `item` to the device's mailbox and returns its seq, or `None` if the device is not
/// current (removed, possibly by another node while this waited for its row).
pub(crate) async fn append(
    tx: &Transaction<'_>,
    device: &DeviceId,
    item: &MailboxItem,
) -> Result<Option<u64>, Failure<StoreError>> {
    let Some(row) = query_opt(
        tx,
        "UPDATE devices SET last_seq = last_seq + 1
         WHERE device_id = $1 AND removed_at IS NULL RETURNING last_seq",
        &[&device.as_str()],
    )
    .await?
    else {
        return Ok(None);
    };
    let seq: i64 = row.try_get(0)?;
    let row = MailboxRow::of(item);
    let envelope_type = row.envelope_type.map(i64::from);
    execute(
        tx,
        "INSERT INTO mailbox
            (device_id, seq, kind, message_id, peer_user, peer_device, envelope_type,
             ciphertext, at, trace_context)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &device.as_str(),
            &seq,
            &row.kind.code(),
            &row.message_id,
            &row.peer_user,
            &row.peer_device,
            &envelope_type,
            &row.ciphertext,
            &to_i64(row.at_ms)?,
            &row.trace_context,
        ],
    )
    .await?;
    Ok(Some(to_u64(seq)?))
}

pub(crate) async fn fetch(
    c: &Client,
    device: &DeviceId,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<MailboxEntry>, Failure<StoreError>> {
    let after = to_i64(after_seq)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = query(
        c,
        "SELECT seq, kind, message_id, peer_user, peer_device, envelope_type, ciphertext, at,
                trace_context
         FROM mailbox WHERE device_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        &[&device.as_str(), &after, &limit],
    )
    .await?;
    // Entries are appended only to current devices and deleted with the device, so entries
    // found are a current device's: the device is looked up (a round trip) only for none.
    if rows.is_empty() {
        current_owner(c, device).await?;
    }
    rows.iter().map(entry).collect()
}

pub(crate) async fn recent_unacked(
    c: &Client,
    newest: usize,
    window_ms: u64,
) -> Result<Vec<Unacked>, Failure<StoreError>> {
    let newest = i64::try_from(newest).unwrap_or(i64::MAX);
    let rows = query(
        c,
        "WITH recent AS (
             SELECT msg_order, message_id, sender_user, recipient_user, sent_at FROM messages
             ORDER BY msg_order DESC LIMIT $1
         )
         SELECT r.message_id, r.sender_user, r.recipient_user, t.device_id, t.seq
         FROM recent r
         JOIN message_targets t ON t.msg_order = r.msg_order
         JOIN mailbox b ON b.device_id = t.device_id AND b.seq = t.seq
         WHERE r.sent_at >= (SELECT max(sent_at) FROM recent) - $2
         ORDER BY r.msg_order, t.device_id",
        &[&newest, &to_i64(window_ms)?],
    )
    .await?;
    let rows = rows
        .iter()
        .map(|row| {
            Ok((
                MessageId::from_string(row.try_get::<_, String>(0)?),
                UserId::from_string(row.try_get::<_, String>(1)?),
                UserId::from_string(row.try_get::<_, String>(2)?),
                DeviceId::from_string(row.try_get::<_, String>(3)?),
                to_u64(row.try_get(4)?)?,
            ))
        })
        .collect::<Result<Vec<_>, Failure<StoreError>>>()?;
    Ok(Unacked::group(rows))
}

fn entry(row: &Row) -> Result<MailboxEntry, Failure<StoreError>> {
    let seq = to_u64(row.try_get(0)?)?;
    let kind = MailboxKind::from_stored(i64::from(row.try_get::<_, i16>(1)?), seq)?;
    let envelope_type: Option<i64> = row.try_get(5)?;
    let columns = MailboxRow {
        kind,
        message_id: row.try_get(2)?,
        peer_user: row.try_get(3)?,
        peer_device: row.try_get(4)?,
        envelope_type: match envelope_type {
            Some(t) => Some(u32::try_from(t).map_err(|_| MailboxRow::malformed(seq))?),
            None => None,
        },
        ciphertext: row.try_get(6)?,
        at_ms: to_u64(row.try_get(7)?)?,
        trace_context: row.try_get(8)?,
    };
    Ok(MailboxEntry {
        seq,
        item: columns.into_item(seq)?,
    })
}

/// The owner of a current device and the last seq its mailbox assigned: what an ack checks
/// its seqs against, before it writes anything. `NotFound` for an unknown or removed device.
pub(crate) async fn owner_and_last_seq(
    tx: &Transaction<'_>,
    device: &DeviceId,
) -> Result<(UserId, u64), Failure<StoreError>> {
    let row = query_opt(
        tx,
        "SELECT user_id, last_seq FROM devices WHERE device_id = $1 AND removed_at IS NULL",
        &[&device.as_str()],
    )
    .await?
    .ok_or(StoreError::NotFound("device"))?;
    Ok((
        UserId::from_string(row.try_get::<_, String>(0)?),
        to_u64(row.try_get(1)?)?,
    ))
}

/// Deletes one entry of the device's own mailbox; returns what it was — its kind and message
/// id — or `None` when an earlier ack took it. The caller checked the seq was assigned
/// ([`owner_and_last_seq`]).
pub(crate) async fn take(
    tx: &Transaction<'_>,
    device: &DeviceId,
    seq: u64,
) -> Result<Option<(MailboxKind, MessageId)>, Failure<StoreError>> {
    let Some(row) = query_opt(
        tx,
        "DELETE FROM mailbox WHERE device_id = $1 AND seq = $2 RETURNING kind, message_id",
        &[&device.as_str(), &to_i64(seq)?],
    )
    .await?
    else {
        return Ok(None);
    };
    let kind = MailboxKind::from_stored(i64::from(row.try_get::<_, i16>(0)?), seq)?;
    Ok(Some((
        kind,
        MessageId::from_string(row.try_get::<_, String>(1)?),
    )))
}

pub(crate) async fn pending(c: &Client, device: &DeviceId) -> Result<u64, Failure<StoreError>> {
    current_owner(c, device).await?;
    let row = query_one(
        c,
        "SELECT count(*) FROM mailbox WHERE device_id = $1",
        &[&device.as_str()],
    )
    .await?;
    Ok(to_u64(row.try_get(0)?)?)
}

//! Delivery and read receipts: durable state plus mailbox entries for the sender's devices.
//!
//! Delivery is recorded at the ack of a message, in the ack's transaction, per target device in
//! `message_targets.delivered_at`; the first record fans a receipt out and later ones are
//! no-ops. Read marks are per (reader, sender) conversation direction and hold the newest message
//! read in server order (`messages.msg_order`), so a late or reordered "read up to" can never
//! move the mark backwards.

use rusqlite::{Connection, params};

use super::device_cache::DeviceCache;
use super::mailbox;
use super::sql::{Db, DbOptional, to_i64, to_u64};
use crate::error::StoreError;
use crate::mailbox_row::{MailboxKind, check_assigned};
use crate::types::{Acked, Delivery, DeviceId, MailboxItem, MessageId, Receipts, UserId, now_ms};

/// Acks `seqs` of the device's mailbox, in order, and records the delivery of each message
/// among them: one request of the writer, so one transaction. Every seq is checked before
/// anything is written, so a seq never assigned refuses the whole request (and a failure after
/// a write would roll back the writer's whole group commit).
pub(super) fn ack(
    conn: &Connection,
    devices: &mut DeviceCache,
    device: &DeviceId,
    seqs: &[u64],
) -> Result<Vec<Acked>, StoreError> {
    let (owner, last) = mailbox::owner_and_last_seq(conn, device)?;
    check_assigned(seqs, last)?;
    seqs.iter()
        .map(|&seq| match mailbox::take(conn, device, seq)? {
            None => Ok(Acked::Already),
            Some((MailboxKind::Message, message)) => {
                record_delivery(conn, devices, device, &owner, &message).map(Acked::Message)
            }
            Some(_) => Ok(Acked::Receipt),
        })
        .collect()
}

/// Records that `device` (of `by_user`) received `message`; the first time, appends a delivery
/// receipt to every current device of the sender.
fn record_delivery(
    conn: &Connection,
    devices: &mut DeviceCache,
    device: &DeviceId,
    by_user: &UserId,
    message: &MessageId,
) -> Result<Delivery, StoreError> {
    let (msg_order, sender_user, sent_at) = conn
        .prepare_cached(
            "SELECT msg_order, sender_user, sent_at FROM messages WHERE message_id = ?1",
        )
        .db()?
        .query_row([message.as_str()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .db_optional()?
        .ok_or(StoreError::NotFound("message"))?;
    let mut delivery = Delivery {
        message_id: message.clone(),
        sender_user: UserId::from_string(sender_user),
        sent_at_ms: to_u64(sent_at)?,
        receipts: Vec::new(),
    };
    let at_ms = now_ms();
    let recorded = conn
        .prepare_cached(
            "UPDATE message_targets SET delivered_at = ?3
             WHERE msg_order = ?1 AND device_id = ?2 AND delivered_at IS NULL",
        )
        .db()?
        .execute(params![msg_order, device.as_str(), to_i64(at_ms)?])
        .db()?;
    if recorded == 0 {
        return Ok(delivery);
    }
    // A copy to the sender's own other device is not a delivery to the recipient, but the
    // sender's devices still learn it arrived; the receipt names who acked it.
    let item = MailboxItem::DeliveryReceipt {
        message_id: message.clone(),
        by_user: by_user.clone(),
        by_device: device.clone(),
        at_ms,
    };
    delivery.receipts = fan_out(conn, devices, &delivery.sender_user, &item)?;
    Ok(delivery)
}

pub(super) fn record_read(
    conn: &Connection,
    devices: &mut DeviceCache,
    reader: &UserId,
    sender: &UserId,
    up_to: &MessageId,
) -> Result<Option<Receipts>, StoreError> {
    let (msg_order, msg_sender, msg_recipient) = conn
        .prepare_cached(
            "SELECT msg_order, sender_user, recipient_user FROM messages WHERE message_id = ?1",
        )
        .db()?
        .query_row([up_to.as_str()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .db_optional()?
        .ok_or(StoreError::NotFound("message"))?;
    if msg_sender != sender.as_str() || msg_recipient != reader.as_str() {
        return Err(StoreError::Forbidden(
            "not a message from this sender to this reader",
        ));
    }
    let at_ms = now_ms();
    let advanced = conn
        .prepare_cached(
            "INSERT INTO read_marks (reader_user, sender_user, up_to_order, at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (reader_user, sender_user) DO UPDATE
                 SET up_to_order = excluded.up_to_order, at = excluded.at
                 WHERE excluded.up_to_order > read_marks.up_to_order",
        )
        .db()?
        .execute(params![
            reader.as_str(),
            sender.as_str(),
            msg_order,
            to_i64(at_ms)?
        ])
        .db()?
        > 0;
    if !advanced {
        return Ok(None);
    }
    let item = MailboxItem::ReadReceipt {
        peer_user: reader.clone(),
        up_to_message_id: up_to.clone(),
        at_ms,
    };
    fan_out(conn, devices, sender, &item).map(Some)
}

/// Appends `item` to every current device of `user`; returns each device with the item's seq
/// there.
fn fan_out(
    conn: &Connection,
    devices: &mut DeviceCache,
    user: &UserId,
    item: &MailboxItem,
) -> Result<Receipts, StoreError> {
    devices
        .current_devices(conn, user)?
        .into_iter()
        .map(|target| Ok((target.clone(), mailbox::append(conn, &target, item)?)))
        .collect()
}

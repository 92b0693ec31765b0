//! Delivery and read receipts: durable state plus mailbox entries for the sender's devices.
//!
//! Delivery is recorded at the ack of a message, in the ack's transaction, per target device in
//! `message_targets.delivered_at` by an `UPDATE … WHERE delivered_at IS NULL`: of two racing
//! acks (a retried ack on another node) only one deletes the mailbox entry, and the record
//! re-checks anyway, so the receipt fans out once. Read marks are per (reader, sender)
//! direction and hold the newest message read in server order (`messages.msg_order`); the
//! upsert only moves the mark forward and racing upserts of one mark take turns on its row, so
//! a late or reordered "read up to" can never move it backwards or fan out twice. Both fan out
//! after taking their one row lock, in ascending device order (see `mailbox`).

use deadpool_postgres::Transaction;
use pigeon_store::{
    Acked, Delivery, DeviceId, MailboxItem, MailboxKind, MessageId, Receipts, StoreError, UserId,
    check_assigned,
};

use crate::accounts::current_devices;
use crate::error::Failure;
use crate::mailbox;
use crate::sql::{execute, now_ms, query_opt, to_i64, to_u64};

/// Acks `seqs` of the device's mailbox, in order, and records the delivery of each message
/// among them, in the one transaction `tx`. Every seq is checked first, so a seq never
/// assigned refuses the whole request before anything is written.
pub(crate) async fn ack(
    tx: &Transaction<'_>,
    device: &DeviceId,
    seqs: &[u64],
) -> Result<Vec<Acked>, Failure<StoreError>> {
    let (owner, last) = mailbox::owner_and_last_seq(tx, device).await?;
    check_assigned(seqs, last)?;
    let mut acked = Vec::with_capacity(seqs.len());
    for &seq in seqs {
        acked.push(match mailbox::take(tx, device, seq).await? {
            None => Acked::Already,
            Some((MailboxKind::Message, message)) => {
                Acked::Message(record_delivery(tx, device, &owner, &message).await?)
            }
            Some(_) => Acked::Receipt,
        });
    }
    Ok(acked)
}

/// Records that `device` (of `by_user`) received `message`; the first time, appends a delivery
/// receipt to every current device of the sender.
async fn record_delivery(
    tx: &Transaction<'_>,
    device: &DeviceId,
    by_user: &UserId,
    message: &MessageId,
) -> Result<Delivery, Failure<StoreError>> {
    let found = query_opt(
        tx,
        "SELECT msg_order, sender_user, sent_at FROM messages WHERE message_id = $1",
        &[&message.as_str()],
    )
    .await?
    .ok_or(StoreError::NotFound("message"))?;
    let msg_order: i64 = found.try_get(0)?;
    let mut delivery = Delivery {
        message_id: message.clone(),
        sender_user: UserId::from_string(found.try_get::<_, String>(1)?),
        sent_at_ms: to_u64(found.try_get(2)?)?,
        receipts: Vec::new(),
    };
    let at_ms = now_ms();
    let recorded = execute(
        tx,
        "UPDATE message_targets SET delivered_at = $3
         WHERE msg_order = $1 AND device_id = $2 AND delivered_at IS NULL",
        &[&msg_order, &device.as_str(), &to_i64(at_ms)?],
    )
    .await?;
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
    delivery.receipts = fan_out(tx, &delivery.sender_user, &item).await?;
    Ok(delivery)
}

pub(crate) async fn record_read(
    tx: &Transaction<'_>,
    reader: &UserId,
    sender: &UserId,
    up_to: &MessageId,
) -> Result<Option<Receipts>, Failure<StoreError>> {
    let found = query_opt(
        tx,
        "SELECT msg_order, sender_user, recipient_user FROM messages WHERE message_id = $1",
        &[&up_to.as_str()],
    )
    .await?
    .ok_or(StoreError::NotFound("message"))?;
    let msg_order: i64 = found.try_get(0)?;
    let msg_sender: &str = found.try_get(1)?;
    let msg_recipient: &str = found.try_get(2)?;
    if msg_sender != sender.as_str() || msg_recipient != reader.as_str() {
        return Err(StoreError::Forbidden("not a message from this sender to this reader").into());
    }
    let at_ms = now_ms();
    let advanced = execute(
        tx,
        "INSERT INTO read_marks (reader_user, sender_user, up_to_order, at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (reader_user, sender_user) DO UPDATE
             SET up_to_order = excluded.up_to_order, at = excluded.at
             WHERE excluded.up_to_order > read_marks.up_to_order",
        &[
            &reader.as_str(),
            &sender.as_str(),
            &msg_order,
            &to_i64(at_ms)?,
        ],
    )
    .await?
        > 0;
    if !advanced {
        return Ok(None);
    }
    let item = MailboxItem::ReadReceipt {
        peer_user: reader.clone(),
        up_to_message_id: up_to.clone(),
        at_ms,
    };
    fan_out(tx, sender, &item).await.map(Some)
}

/// Appends `item` to every current device of `user`, in ascending id order, and returns each
/// device with the item's seq there. A device removed meanwhile is skipped: it has no mailbox
/// any more.
async fn fan_out(
    tx: &Transaction<'_>,
    user: &UserId,
    item: &MailboxItem,
) -> Result<Receipts, Failure<StoreError>> {
    let mut appended = Vec::new();
    for target in current_devices(tx, user).await? {
        if let Some(seq) = mailbox::append(tx, &target, item).await? {
            appended.push((target, seq));
        }
    }
    Ok(appended)
}

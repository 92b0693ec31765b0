//! Accepting a message: duplicate detection, the device-list check, and one mailbox entry per
//! target device, in one transaction.
//!
//! Duplicates are checked first: a retry must get its original answer even if the device
//! lists changed since. Racing copies of one send (on one node or several) all pass that check,
//! then meet at the insert into `messages`: `ON CONFLICT (sender_device, client_msg_id) DO
//! NOTHING` makes each later one wait for the first to commit and insert nothing, after which
//! it reads the committed original and answers with it. If the first rolls back instead, the
//! next one inserts. Nothing is locked before that insert, so the waiting cannot deadlock.
//!
//! The device lists are read without locks; the appends then lock each target (see
//! `mailbox`) and fail on one removed meanwhile, in which case the send is refused with the
//! lists as they are now. A device added meanwhile is not a target: the send is ordered before
//! the addition, which is also the only order a client can mean, since it cannot have
//! encrypted for a device whose keys it has not fetched yet.

use deadpool_postgres::Transaction;
use pigeon_store::{
    DeviceCopy, DeviceId, MailboxItem, MessageId, SendError, SendOutcome, SendRequest, StoreError,
    UserId,
};

use crate::accounts::{current_devices, owner_of, user_exists};
use crate::error::Failure;
use crate::mailbox;
use crate::sql::{execute, now_ms, query, query_opt, to_i64, to_u64};

pub(crate) async fn send(
    tx: &Transaction<'_>,
    req: &SendRequest,
) -> Result<SendOutcome, Failure<SendError>> {
    if req.client_msg_id.is_empty() {
        return Err(SendError::Invalid("empty client_msg_id").into());
    }
    if let Some(original) = find_original(tx, req).await? {
        return Ok(original);
    }
    let sender_user = owner_of(tx, &req.sender_device)
        .await?
        .ok_or(SendError::UnknownSender)?;
    if !user_exists(tx, &req.recipient_user).await? {
        return Err(SendError::UnknownRecipient.into());
    }
    check_targets(tx, req, &sender_user).await?;

    let message_id = MessageId::generate();
    let sent_at_ms = now_ms();
    let inserted = query_opt(
        tx,
        "INSERT INTO messages
            (message_id, sender_user, sender_device, client_msg_id, recipient_user, sent_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (sender_device, client_msg_id) DO NOTHING
         RETURNING msg_order",
        &[
            &message_id.as_str(),
            &sender_user.as_str(),
            &req.sender_device.as_str(),
            &req.client_msg_id,
            &req.recipient_user.as_str(),
            &to_i64(sent_at_ms)?,
        ],
    )
    .await?;
    let Some(inserted) = inserted else {
        // A racing copy of this send committed first: answer with it.
        return find_original(tx, req).await?.ok_or_else(|| {
            StoreError::Backend("a conflicting send is not readable".into()).into()
        });
    };
    let msg_order: i64 = inserted.try_get(0)?;
    // Ascending device ids: the lock order every multi-device append keeps.
    let mut copies: Vec<&DeviceCopy> = req.copies.iter().collect();
    copies.sort_by(|a, b| a.device_id.cmp(&b.device_id));
    let mut seqs = Vec::with_capacity(copies.len());
    for copy in copies {
        let item = MailboxItem::Message {
            message_id: message_id.clone(),
            sender_user: sender_user.clone(),
            sender_device: req.sender_device.clone(),
            envelope_type: copy.envelope_type,
            ciphertext: copy.ciphertext.clone(),
            sent_at_ms,
            trace_context: req.trace_context.clone(),
        };
        let Some(seq) = mailbox::append(tx, &copy.device_id, &item).await? else {
            // Removed since the check: this statement sees the removal, so this refuses.
            check_targets(tx, req, &sender_user).await?;
            return Err(StoreError::Backend("a target device vanished".into()).into());
        };
        execute(
            tx,
            "INSERT INTO message_targets (msg_order, device_id, seq) VALUES ($1, $2, $3)",
            &[&msg_order, &copy.device_id.as_str(), &to_i64(seq)?],
        )
        .await?;
        seqs.push((copy.device_id.clone(), seq));
    }
    Ok(SendOutcome {
        message_id,
        sent_at_ms,
        seqs,
        duplicate: false,
    })
}

/// The outcome of an earlier send with the same `(sender_device, client_msg_id)`, if any.
async fn find_original(
    tx: &Transaction<'_>,
    req: &SendRequest,
) -> Result<Option<SendOutcome>, Failure<SendError>> {
    let Some(found) = query_opt(
        tx,
        "SELECT msg_order, message_id, sent_at FROM messages
         WHERE sender_device = $1 AND client_msg_id = $2",
        &[&req.sender_device.as_str(), &req.client_msg_id],
    )
    .await?
    else {
        return Ok(None);
    };
    let msg_order: i64 = found.try_get(0)?;
    let rows = query(
        tx,
        "SELECT device_id, seq FROM message_targets WHERE msg_order = $1 ORDER BY device_id",
        &[&msg_order],
    )
    .await?;
    let mut seqs = Vec::with_capacity(rows.len());
    for row in rows {
        seqs.push((
            DeviceId::from_string(row.try_get::<_, String>(0)?),
            to_u64(row.try_get(1)?)?,
        ));
    }
    Ok(Some(SendOutcome {
        message_id: MessageId::from_string(found.try_get::<_, String>(1)?),
        sent_at_ms: to_u64(found.try_get(2)?)?,
        seqs,
        duplicate: true,
    }))
}

/// The copies against the devices current in this transaction (see
/// [`SendRequest::check_targets`]).
async fn check_targets(
    tx: &Transaction<'_>,
    req: &SendRequest,
    sender_user: &UserId,
) -> Result<(), Failure<SendError>> {
    let recipient_devices = current_devices(tx, &req.recipient_user).await?;
    let sender_devices = current_devices(tx, sender_user).await?;
    Ok(req.check_targets(sender_user, recipient_devices, sender_devices)?)
}

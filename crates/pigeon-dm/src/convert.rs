//! Store values ⇄ wire values. Ids the store made are valid wire ids; if one ever is not, that
//! is a server bug and surfaces as a 500, never as a malformed answer.

use pigeon_proto as wire;
use pigeon_store as store;

use crate::ApiError;

/// Olm's message types as the store keeps them.
pub(crate) const PRE_KEY: u32 = 0;
const NORMAL: u32 = 1;

pub(crate) fn envelope_type(t: wire::MessageType) -> u32 {
    match t {
        wire::MessageType::PreKey => PRE_KEY,
        wire::MessageType::Normal => NORMAL,
    }
}

fn message_type(t: u32) -> Result<wire::MessageType, ApiError> {
    match t {
        PRE_KEY => Ok(wire::MessageType::PreKey),
        NORMAL => Ok(wire::MessageType::Normal),
        other => Err(ApiError::Internal(format!("stored message type {other}"))),
    }
}

/// A wire id from a store id.
pub(crate) fn id<T: TryFrom<String, Error = wire::IdError>>(s: &str) -> Result<T, ApiError> {
    T::try_from(s.to_owned()).map_err(|e| ApiError::Internal(format!("stored id {s:?}: {e}")))
}

pub(crate) fn device_ref(
    user: &store::UserId,
    device: &store::DeviceId,
) -> Result<wire::DeviceRef, ApiError> {
    Ok(wire::DeviceRef {
        user_id: id(user.as_str())?,
        device_id: id(device.as_str())?,
    })
}

pub(crate) fn stale(stale: &store::StaleDevices) -> wire::StaleDevices {
    let current = stale
        .current
        .iter()
        .flat_map(|u| u.devices.iter().map(move |d| device_ref(&u.user_id, d)))
        .filter_map(Result::ok)
        .collect();
    wire::StaleDevices { current }
}

pub(crate) fn entry(entry: store::MailboxEntry) -> Result<wire::MailboxEntry, ApiError> {
    let item = match entry.item {
        store::MailboxItem::Message {
            message_id,
            sender_user,
            sender_device,
            envelope_type,
            ciphertext,
            sent_at_ms,
            // Server-side only: how a late delivery links to its send.
            trace_context: _,
        } => wire::MailboxItem::Message {
            message_id: id(message_id.as_str())?,
            sender: device_ref(&sender_user, &sender_device)?,
            message_type: message_type(envelope_type)?,
            body: ciphertext,
            sent_at_ms,
        },
        store::MailboxItem::DeliveryReceipt {
            message_id,
            by_user,
            by_device,
            at_ms,
        } => wire::MailboxItem::DeliveryReceipt {
            message_id: id(message_id.as_str())?,
            by: device_ref(&by_user, &by_device)?,
            at_ms,
        },
        store::MailboxItem::ReadReceipt {
            peer_user,
            up_to_message_id,
            at_ms,
        } => wire::MailboxItem::ReadReceipt {
            reader: id(peer_user.as_str())?,
            up_to: id(up_to_message_id.as_str())?,
            at_ms,
        },
    };
    Ok(wire::MailboxEntry {
        seq: entry.seq,
        item,
    })
}

pub(crate) fn signed_key(key: wire::SignedKey) -> store::SignedKey {
    store::SignedKey {
        key_id: key.key_id,
        public_key: key.public_key,
        signature: key.signature,
    }
}

pub(crate) fn claimed_key(key: store::ClaimedKey) -> wire::SignedKey {
    wire::SignedKey {
        key_id: key.key.key_id,
        public_key: key.key.public_key,
        fallback: key.fallback,
        signature: key.key.signature,
    }
}

/// Milliseconds since the Unix epoch at which a UUIDv7 id was made, if it is one.
pub(crate) fn uuid_v7_millis(id: &str) -> Option<u64> {
    let uuid = uuid::Uuid::parse_str(id).ok()?;
    let (secs, nanos) = uuid.get_timestamp()?.to_unix();
    Some(secs * 1_000 + u64::from(nanos) / 1_000_000)
}

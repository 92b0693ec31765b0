//! [`MailboxRow`]: a [`MailboxItem`] as the flat columns a SQL table keeps, so every store
//! lays its mailbox out the same way and converts it with the same code.

use crate::error::StoreError;
use crate::types::{DeviceId, MailboxItem, MessageId, UserId};

/// What kind of entry a mailbox row holds (its `kind` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailboxKind {
    /// [`MailboxItem::Message`].
    Message = 1,
    /// [`MailboxItem::DeliveryReceipt`].
    DeliveryReceipt = 2,
    /// [`MailboxItem::ReadReceipt`].
    ReadReceipt = 3,
}

impl MailboxKind {
    /// The kind stored as `code`, if any.
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            1 => Some(Self::Message),
            2 => Some(Self::DeliveryReceipt),
            3 => Some(Self::ReadReceipt),
            _ => None,
        }
    }

    /// The kind stored as `code` in the row at `seq`; a code of no kind is a malformed row.
    pub fn from_stored(code: i64, seq: u64) -> Result<Self, StoreError> {
        Self::from_code(code).ok_or_else(|| MailboxRow::malformed(seq))
    }

    /// The stored code.
    pub fn code(self) -> i16 {
        self as i16
    }
}

/// One mailbox entry's columns. `message_id` is the receipt's message for receipts (the
/// read-up-to message for read receipts); `peer_user` the sender, the reader or the
/// recipient; `peer_device` the sending or acking device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxRow {
    /// The entry's kind.
    pub kind: MailboxKind,
    /// The message it is about.
    pub message_id: String,
    /// The other user.
    pub peer_user: String,
    /// The other device (messages and delivery receipts).
    pub peer_device: Option<String>,
    /// The Olm message type (messages).
    pub envelope_type: Option<u32>,
    /// The ciphertext (messages).
    pub ciphertext: Option<String>,
    /// When, ms since the Unix epoch.
    pub at_ms: u64,
    /// The send's traceparent (messages).
    pub trace_context: Option<String>,
}

impl MailboxRow {
    /// The error for the row at `seq` when it cannot be read back: an unknown kind, a column
    /// its kind needs missing or out of range.
    pub fn malformed(seq: u64) -> StoreError {
        StoreError::Backend(format!("malformed mailbox row (seq {seq})"))
    }

    /// The columns of `item`.
    pub fn of(item: &MailboxItem) -> Self {
        match item {
            MailboxItem::Message {
                message_id,
                sender_user,
                sender_device,
                envelope_type,
                ciphertext,
                sent_at_ms,
                trace_context,
            } => Self {
                kind: MailboxKind::Message,
                message_id: message_id.to_string(),
                peer_user: sender_user.to_string(),
                peer_device: Some(sender_device.to_string()),
                envelope_type: Some(*envelope_type),
                ciphertext: Some(ciphertext.clone()),
                at_ms: *sent_at_ms,
                trace_context: trace_context.clone(),
            },
            MailboxItem::DeliveryReceipt {
                message_id,
                by_user,
                by_device,
                at_ms,
            } => Self {
                kind: MailboxKind::DeliveryReceipt,
                message_id: message_id.to_string(),
                peer_user: by_user.to_string(),
                peer_device: Some(by_device.to_string()),
                envelope_type: None,
                ciphertext: None,
                at_ms: *at_ms,
                trace_context: None,
            },
            MailboxItem::ReadReceipt {
                peer_user,
                up_to_message_id,
                at_ms,
            } => Self {
                kind: MailboxKind::ReadReceipt,
                message_id: up_to_message_id.to_string(),
                peer_user: peer_user.to_string(),
                peer_device: None,
                envelope_type: None,
                ciphertext: None,
                at_ms: *at_ms,
                trace_context: None,
            },
        }
    }

    /// The item these columns hold; `Backend` naming `seq` when a column its kind needs is
    /// missing.
    pub fn into_item(self, seq: u64) -> Result<MailboxItem, StoreError> {
        let corrupt = || Self::malformed(seq);
        let message_id = MessageId::from_string(self.message_id);
        let peer_user = UserId::from_string(self.peer_user);
        Ok(match self.kind {
            MailboxKind::Message => MailboxItem::Message {
                message_id,
                sender_user: peer_user,
                sender_device: DeviceId::from_string(self.peer_device.ok_or_else(corrupt)?),
                envelope_type: self.envelope_type.ok_or_else(corrupt)?,
                ciphertext: self.ciphertext.ok_or_else(corrupt)?,
                sent_at_ms: self.at_ms,
                trace_context: self.trace_context,
            },
            MailboxKind::DeliveryReceipt => MailboxItem::DeliveryReceipt {
                message_id,
                by_user: peer_user,
                by_device: DeviceId::from_string(self.peer_device.ok_or_else(corrupt)?),
                at_ms: self.at_ms,
            },
            MailboxKind::ReadReceipt => MailboxItem::ReadReceipt {
                peer_user,
                up_to_message_id: message_id,
                at_ms: self.at_ms,
            },
        })
    }
}

/// Refuses an ack naming a seq the device's mailbox never assigned (0, or beyond `last_seq`):
/// checked for the whole list before an ack writes anything, so a bad seq acks nothing.
pub fn check_assigned(seqs: &[u64], last_seq: u64) -> Result<(), StoreError> {
    if seqs.iter().any(|&seq| seq == 0 || seq > last_seq) {
        return Err(StoreError::Invalid("seq was never assigned to this device"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_kind_round_trips_and_missing_columns_are_corrupt() {
        let items = [
            MailboxItem::Message {
                message_id: MessageId::from_string("m"),
                sender_user: UserId::from_string("u"),
                sender_device: DeviceId::from_string("d"),
                envelope_type: 1,
                ciphertext: "ct".into(),
                sent_at_ms: 5,
                trace_context: Some("00-tc".into()),
            },
            MailboxItem::DeliveryReceipt {
                message_id: MessageId::from_string("m"),
                by_user: UserId::from_string("u"),
                by_device: DeviceId::from_string("d"),
                at_ms: 6,
            },
            MailboxItem::ReadReceipt {
                peer_user: UserId::from_string("u"),
                up_to_message_id: MessageId::from_string("m"),
                at_ms: 7,
            },
        ];
        for item in items {
            let row = MailboxRow::of(&item);
            assert_eq!(
                MailboxKind::from_code(i64::from(row.kind.code())),
                Some(row.kind)
            );
            assert_eq!(row.into_item(1).unwrap(), item);
        }
        let mut broken = MailboxRow::of(&MailboxItem::DeliveryReceipt {
            message_id: MessageId::from_string("m"),
            by_user: UserId::from_string("u"),
            by_device: DeviceId::from_string("d"),
            at_ms: 6,
        });
        broken.peer_device = None;
        assert!(matches!(broken.into_item(9), Err(StoreError::Backend(m)) if m.contains("seq 9")));
        assert_eq!(MailboxKind::from_code(4), None);
    }
}

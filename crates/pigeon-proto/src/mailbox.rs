//! What a device receives, in order: messages addressed to it and receipts for messages it
//! sent. One stream per device with a growing `seq`; the device acks each entry (over the
//! WebSocket or `POST /v1/mailbox/ack`) and an acked entry is never sent to it again. Offline,
//! `GET /v1/mailbox?after=SEQ&limit=N` pages through what is unacked.

use serde::{Deserialize, Serialize};

use crate::{DeviceRef, MessageId, MessageType, UserId};

/// One entry of a device's mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxEntry {
    /// Position in this device's mailbox; strictly growing.
    pub seq: u64,
    /// What it is.
    #[serde(flatten)]
    pub item: MailboxItem,
}

/// The kinds of mailbox entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MailboxItem {
    /// A message for this device.
    Message {
        /// The server's id of the message.
        message_id: MessageId,
        /// Who sent it.
        sender: DeviceRef,
        /// Olm message type.
        message_type: MessageType,
        /// The ciphertext for this device (unpadded base64).
        body: String,
        /// When the server accepted it, ms since the Unix epoch.
        sent_at_ms: u64,
    },
    /// A device of the recipient acked a message this user sent.
    DeliveryReceipt {
        /// The message.
        message_id: MessageId,
        /// The device that acked it.
        by: DeviceRef,
        /// When, ms since the Unix epoch.
        at_ms: u64,
    },
    /// The recipient read this user's messages up to `up_to` (in server order).
    ReadReceipt {
        /// Who read.
        reader: UserId,
        /// The newest message read.
        up_to: MessageId,
        /// When, ms since the Unix epoch.
        at_ms: u64,
    },
}

/// `GET /v1/mailbox`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxPage {
    /// Unacked entries after the requested seq, in order.
    pub entries: Vec<MailboxEntry>,
    /// True when more entries follow; ask again after the last seq.
    pub more: bool,
}

/// `POST /v1/mailbox/ack`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// Entries of the caller's own mailbox to ack.
    pub seqs: Vec<u64>,
}

/// The answer to an ack: the seqs this request acked (already acked ones are left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckResponse {
    /// Newly acked seqs.
    pub acked: Vec<u64>,
}

/// The answer to a read mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadResponse {
    /// False when an equal or newer read mark was already recorded (nothing changed).
    pub advanced: bool,
}

/// `POST /v1/receipts/read`: "I have read `peer`'s messages up to `up_to`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// The conversation: the user whose messages were read.
    pub peer: UserId,
    /// The newest message read; older read marks are kept as they are.
    pub up_to: MessageId,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeviceId;

    #[test]
    fn entries_are_flat_json_tagged_by_kind() {
        let entry = MailboxEntry {
            seq: 7,
            item: MailboxItem::DeliveryReceipt {
                message_id: MessageId::new("m1").unwrap(),
                by: DeviceRef {
                    user_id: UserId::new("bob").unwrap(),
                    device_id: DeviceId::new("d1").unwrap(),
                },
                at_ms: 5,
            },
        };
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["seq"], 7);
        assert_eq!(json["kind"], "delivery_receipt");
        assert_eq!(json["by"]["device_id"], "d1");
        assert_eq!(serde_json::from_value::<MailboxEntry>(json).unwrap(), entry);
    }
}

//! The values that cross the [`crate::Store`] trait.
//!
//! Ids are UUIDv7 text made by the store: time-ordered, so they index well, and opaque to
//! clients. Keys and ciphertexts are opaque text the store never interprets. Timestamps are
//! milliseconds since the Unix epoch, as on the wire.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::error::StoreError;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// A fresh UUIDv7 id.
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }

            /// Wraps an id the store made earlier (from the wire or a database row).
            pub fn from_string(s: impl Into<String>) -> Self {
                Self(s.into())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

id_type!(
    /// A user.
    UserId
);
id_type!(
    /// One device of a user; each has its own token, keys and mailbox.
    DeviceId
);
id_type!(
    /// A message, as the server accepted it (one id for all its per-device copies).
    MessageId
);

/// A device's bearer token: 256 random bits as 64 hex digits. Shown to the client once at
/// creation; the store keeps only its SHA-256, so a leaked database does not leak tokens.
/// No `Debug` that could print it, and no logging of it anywhere.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceToken(String);

impl DeviceToken {
    /// A fresh random token (for [`Store`](crate::Store) implementations: every store makes
    /// tokens the same way).
    pub fn generate() -> Result<Self, StoreError> {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw)
            .map_err(|e| StoreError::Backend(format!("no randomness for a token: {e}")))?;
        let mut hex = String::with_capacity(64);
        for b in raw {
            hex.push(char::from(HEX[usize::from(b >> 4)]));
            hex.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        Ok(Self(hex))
    }

    /// Wraps a token presented by a client.
    pub fn from_string(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The token text, to hand to the client once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What a store keeps and looks tokens up by: SHA-256 of the token text.
    pub fn hash(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl Drop for DeviceToken {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceToken(<redacted>)")
    }
}

/// What registering a user returns: the user, its first device, and that device's token.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// The new user.
    pub user_id: UserId,
    /// Its first device.
    pub device_id: DeviceId,
    /// The first device's token; the only time it is available.
    pub token: DeviceToken,
}

/// What adding a device returns.
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// The new device.
    pub device_id: DeviceId,
    /// Its token; the only time it is available.
    pub token: DeviceToken,
}

/// Who a valid token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The user.
    pub user_id: UserId,
    /// The device the token was issued to.
    pub device_id: DeviceId,
}

/// A current device of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The device.
    pub device_id: DeviceId,
    /// The name its owner gave it.
    pub name: String,
    /// When it was added, ms since the Unix epoch.
    pub created_at_ms: u64,
}

/// A signed public key (one-time or fallback). All three fields are opaque to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedKey {
    /// The client's id of the key; uploads are idempotent per key id.
    pub key_id: String,
    /// The public key.
    pub public_key: String,
    /// The signature over it by the device's identity key.
    pub signature: String,
}

/// One upload to a device's key directory. Every part is optional so clients can top up
/// one-time keys without resending the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyUpload {
    /// The identity keys bundle (opaque JSON: curve25519, ed25519, signature); replaces any
    /// earlier one.
    pub identity: Option<String>,
    /// New one-time keys. A key id already known for the device (claimed or not) is ignored.
    pub one_time_keys: Vec<SignedKey>,
    /// A fallback key; replaces the current one unless it has the same key id.
    pub fallback: Option<SignedKey>,
}

/// A key claimed for starting an Olm session with a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedKey {
    /// The key.
    pub key: SignedKey,
    /// True when no one-time key was left and this is the device's fallback key.
    pub fallback: bool,
}

/// One ciphertext of a message, for one target device. Its `Debug` shows the ciphertext's
/// length only, so a stray `?copy` in a log line leaks nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceCopy {
    /// The target device.
    pub device_id: DeviceId,
    /// The Olm message type (opaque to the store).
    pub envelope_type: u32,
    /// The ciphertext for this device (opaque, never logged).
    pub ciphertext: String,
}

impl fmt::Debug for DeviceCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCopy")
            .field("device_id", &self.device_id)
            .field("envelope_type", &self.envelope_type)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

/// A message to store for every device of the recipient and every other device of the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    /// The sending device (authenticated by the caller).
    pub sender_device: DeviceId,
    /// The client's id for this send; a retry with the same id is answered with the original.
    pub client_msg_id: String,
    /// The user the message is for.
    pub recipient_user: UserId,
    /// One copy per target device.
    pub copies: Vec<DeviceCopy>,
    /// The W3C `traceparent` of the span that stores the message, kept with it so a delivery
    /// long after (at a reconnect) can start its own trace linked to the send.
    pub trace_context: Option<String>,
}

/// What an accepted send returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOutcome {
    /// The server's id of the message.
    pub message_id: MessageId,
    /// When it was accepted, ms since the Unix epoch.
    pub sent_at_ms: u64,
    /// Each target device and the seq of the message in its mailbox, sorted by device.
    pub seqs: Vec<(DeviceId, u64)>,
    /// True when this was a retry of an earlier send and nothing new was stored.
    pub duplicate: bool,
}

/// What [`Store::ack`](crate::Store::ack) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acked {
    /// An earlier ack took the entry already: nothing changed.
    Already,
    /// A receipt entry is acked.
    Receipt,
    /// A message is acked, and its delivery to the acking device recorded.
    Message(Delivery),
}

impl Acked {
    /// Whether this call acked the entry (not an earlier one).
    pub fn newly(&self) -> bool {
        !matches!(self, Self::Already)
    }
}

/// Where a receipt went: each current device of the sender with the receipt's seq in its
/// mailbox — the devices to wake.
pub type Receipts = Vec<(DeviceId, u64)>;

/// A message's delivery to one device, recorded at its ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The message.
    pub message_id: MessageId,
    /// Who sent it.
    pub sender_user: UserId,
    /// When the server accepted it, ms since the Unix epoch.
    pub sent_at_ms: u64,
    /// The delivery receipt's place in the mailbox of each current device of the sender: the
    /// devices to wake. Empty when this device's delivery had been recorded before.
    pub receipts: Receipts,
}

/// A recent message with copies no device has acked yet (see
/// [`Store::recent_unacked`](crate::Store::recent_unacked)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unacked {
    /// The message.
    pub message_id: MessageId,
    /// Who sent it.
    pub sender_user: UserId,
    /// To whom.
    pub recipient_user: UserId,
    /// Each unacked copy: the device and the copy's seq in its mailbox.
    pub targets: Vec<(DeviceId, u64)>,
}

/// One row of a store's query for [`Unacked`]: message, sender, recipient, device, seq.
pub type UnackedRow = (MessageId, UserId, UserId, DeviceId, u64);

impl Unacked {
    /// Groups rows, ordered by message, into one [`Unacked`] a message: how a store turns its
    /// query's rows into the answer.
    pub fn group(rows: impl IntoIterator<Item = UnackedRow>) -> Vec<Self> {
        let mut grouped: Vec<Self> = Vec::new();
        for (message_id, sender_user, recipient_user, device, seq) in rows {
            match grouped.last_mut() {
                Some(last) if last.message_id == message_id => last.targets.push((device, seq)),
                _ => grouped.push(Self {
                    message_id,
                    sender_user,
                    recipient_user,
                    targets: vec![(device, seq)],
                }),
            }
        }
        grouped
    }
}

/// One entry of a device's mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxEntry {
    /// Position in this device's mailbox: 1, 2, 3, … without gaps as assigned.
    pub seq: u64,
    /// What it is.
    pub item: MailboxItem,
}

/// The kinds of mailbox entries. `Debug` shows a message's ciphertext length, not its bytes.
#[derive(Clone, PartialEq, Eq)]
pub enum MailboxItem {
    /// A message for this device.
    Message {
        /// The message.
        message_id: MessageId,
        /// Who sent it.
        sender_user: UserId,
        /// From which device.
        sender_device: DeviceId,
        /// The Olm message type.
        envelope_type: u32,
        /// The ciphertext for this device.
        ciphertext: String,
        /// When the server accepted it, ms since the Unix epoch.
        sent_at_ms: u64,
        /// The send's `traceparent` (see [`SendRequest::trace_context`]).
        trace_context: Option<String>,
    },
    /// A device of the recipient acked a message this device's user sent.
    DeliveryReceipt {
        /// The message.
        message_id: MessageId,
        /// The recipient user.
        by_user: UserId,
        /// The recipient device that acked it.
        by_device: DeviceId,
        /// When, ms since the Unix epoch.
        at_ms: u64,
    },
    /// The peer read this user's messages up to `up_to_message_id`, in server order.
    ReadReceipt {
        /// Who read.
        peer_user: UserId,
        /// The newest message read.
        up_to_message_id: MessageId,
        /// When, ms since the Unix epoch.
        at_ms: u64,
    },
}

impl fmt::Debug for MailboxItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Message {
                message_id,
                sender_user,
                sender_device,
                envelope_type,
                ciphertext,
                sent_at_ms,
                trace_context,
            } => f
                .debug_struct("Message")
                .field("message_id", message_id)
                .field("sender_user", sender_user)
                .field("sender_device", sender_device)
                .field("envelope_type", envelope_type)
                .field("ciphertext_len", &ciphertext.len())
                .field("trace_context", trace_context)
                .field("sent_at_ms", sent_at_ms)
                .finish(),
            Self::DeliveryReceipt {
                message_id,
                by_user,
                by_device,
                at_ms,
            } => f
                .debug_struct("DeliveryReceipt")
                .field("message_id", message_id)
                .field("by_user", by_user)
                .field("by_device", by_device)
                .field("at_ms", at_ms)
                .finish(),
            Self::ReadReceipt {
                peer_user,
                up_to_message_id,
                at_ms,
            } => f
                .debug_struct("ReadReceipt")
                .field("peer_user", peer_user)
                .field("up_to_message_id", up_to_message_id)
                .field("at_ms", at_ms)
                .finish(),
        }
    }
}

/// Now, in ms since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex_and_never_printed() {
        let a = DeviceToken::generate().unwrap();
        let b = DeviceToken::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(format!("{a:?}"), "DeviceToken(<redacted>)");
        assert_eq!(a.hash().len(), 32);
        assert_eq!(a.hash(), DeviceToken::from_string(a.expose()).hash());
    }

    #[test]
    fn debug_never_shows_ciphertext() {
        let copy = DeviceCopy {
            device_id: DeviceId::from_string("d"),
            envelope_type: 0,
            ciphertext: "SECRET-CIPHERTEXT".into(),
        };
        let item = MailboxItem::Message {
            message_id: MessageId::from_string("m"),
            sender_user: UserId::from_string("u"),
            sender_device: DeviceId::from_string("d"),
            envelope_type: 0,
            ciphertext: "SECRET-CIPHERTEXT".into(),
            sent_at_ms: 1,
            trace_context: None,
        };
        for shown in [format!("{copy:?}"), format!("{item:?}")] {
            assert!(!shown.contains("SECRET"), "{shown}");
            assert!(shown.contains("ciphertext_len: 17"), "{shown}");
        }
    }

    #[test]
    fn ids_are_time_ordered() {
        let a = MessageId::generate();
        let b = MessageId::generate();
        assert!(a < b);
    }
}

//! The [`Store`] trait: everything the DM server keeps, and the guarantees it relies on.
//!
//! Object-safe (methods return [`BoxFuture`]) because the server holds an `Arc<dyn Store>`
//! chosen at start-up. Arguments are owned: implementations ship work to other threads (the
//! SQLite writer, a blocking pool), and ids are cheap to clone.
//!
//! Every `Ok` from a mutating method means the change is durably committed: a crash right after
//! loses nothing that was acknowledged. The conformance suite (`conformance` feature) tests each
//! guarantee below against every implementation.

use futures::future::BoxFuture;

use crate::error::{SendError, StoreError};
use crate::types::{
    Acked, Authenticated, ClaimedKey, DeviceId, DeviceInfo, DeviceToken, KeyUpload, MailboxEntry,
    MessageId, NewAccount, NewDevice, Receipts, SendOutcome, SendRequest, Unacked, UserId,
};

/// Durable storage of the DM server. See the module docs.
pub trait Store: Send + Sync {
    // ---- accounts and devices ----

    /// Registers a user with a first device. `Conflict` if the username is taken, `Invalid`
    /// if it or the device name is empty.
    fn create_user(
        &self,
        username: String,
        device_name: String,
    ) -> BoxFuture<'_, Result<NewAccount, StoreError>>;

    /// The user with this username, if any.
    fn user_by_name(&self, username: String) -> BoxFuture<'_, Result<Option<UserId>, StoreError>>;

    /// Adds a device to a user. `NotFound` if the user does not exist.
    fn add_device(
        &self,
        user: UserId,
        name: String,
    ) -> BoxFuture<'_, Result<NewDevice, StoreError>>;

    /// Removes a device: its token stops working, its keys, push subscription and mailbox are
    /// deleted, and sends must no longer target it. `NotFound` if it is not a current device of
    /// `user`.
    fn remove_device(
        &self,
        user: UserId,
        device: DeviceId,
    ) -> BoxFuture<'_, Result<(), StoreError>>;

    /// The user's current devices, oldest first. `NotFound` if the user does not exist.
    fn devices(&self, user: UserId) -> BoxFuture<'_, Result<Vec<DeviceInfo>, StoreError>>;

    /// Who a token belongs to: a lookup by the token's SHA-256. `None` for an unknown token or
    /// a removed device.
    fn authenticate(
        &self,
        token: DeviceToken,
    ) -> BoxFuture<'_, Result<Option<Authenticated>, StoreError>>;

    // ---- key directory ----

    /// Adds to a device's key directory (see [`KeyUpload`]) and returns how many one-time keys
    /// it now has unclaimed. Idempotent per key id: re-uploading a key id, even one already
    /// claimed, changes nothing. `NotFound` for an unknown device.
    fn upload_keys(
        &self,
        device: DeviceId,
        upload: KeyUpload,
    ) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// The device's identity keys bundle, if uploaded. `NotFound` for an unknown device.
    fn identity_keys(&self, device: DeviceId) -> BoxFuture<'_, Result<Option<String>, StoreError>>;

    /// How many one-time keys the device has left unclaimed (the server tells it to upload
    /// more when low). `NotFound` for an unknown device.
    fn one_time_key_count(&self, device: DeviceId) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// Claims a key to start a session with `device`, atomically: each one-time key is handed
    /// out once ever, oldest upload first, even to concurrent claimers. When none is left the
    /// fallback key is returned (`fallback: true`) and marked used; it keeps being returned to
    /// later claimers until the device uploads a new one, because a device with no key at all
    /// could not be reached. `None` if the device has neither. `NotFound` for an unknown device.
    fn claim_key(&self, device: DeviceId) -> BoxFuture<'_, Result<Option<ClaimedKey>, StoreError>>;

    // ---- messages and mailboxes ----

    /// Stores one mailbox entry per copy in one transaction and returns after the commit.
    ///
    /// A retry with the same `(sender_device, client_msg_id)` (also a concurrent one) returns
    /// the original outcome with `duplicate: true` and stores nothing. Otherwise the copies
    /// must target exactly the recipient's current devices plus the sender's other current
    /// devices, once each: if not, [`SendError::StaleDevices`] carries the current lists and
    /// nothing is stored.
    fn send(&self, request: SendRequest) -> BoxFuture<'_, Result<SendOutcome, SendError>>;

    /// Up to `limit` unacked entries of the device's mailbox with `seq > after_seq`, in seq
    /// order. `NotFound` for an unknown or removed device.
    fn fetch(
        &self,
        device: DeviceId,
        after_seq: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<MailboxEntry>, StoreError>>;

    /// Acks entries of the device's own mailbox, in the order given, in one transaction (so
    /// one commit however many); each is never returned again. For each entry that is a
    /// message, records its delivery to `device` in the same transaction: the first time, a
    /// delivery receipt is appended to the mailbox of every current device of the sender (see
    /// [`Delivery::receipts`](crate::Delivery::receipts)). An ack and its receipt are one
    /// commit, so a crash can never keep the one without the other. Idempotent: a seq acked
    /// before (or earlier in `seqs`) is [`Acked::Already`]. Answers one [`Acked`] per seq, in
    /// order. `Invalid` when any seq was never assigned to this device (0, or beyond its
    /// last): then nothing is acked. `NotFound` for an unknown device.
    fn ack_many(
        &self,
        device: DeviceId,
        seqs: Vec<u64>,
    ) -> BoxFuture<'_, Result<Vec<Acked>, StoreError>>;

    /// Acks one entry: [`Store::ack_many`] of one seq.
    fn ack(&self, device: DeviceId, seq: u64) -> BoxFuture<'_, Result<Acked, StoreError>> {
        Box::pin(async move {
            self.ack_many(device, vec![seq])
                .await?
                .pop()
                .ok_or_else(|| StoreError::Backend("an ack of one seq answered nothing".into()))
        })
    }

    /// How many entries of the device's mailbox are unacked. `NotFound` for an unknown device.
    fn pending_count(&self, device: DeviceId) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// Among the `newest` messages stored last, those sent at most `window_ms` before the
    /// newest of them that still have unacked copies, oldest first, each with only those
    /// copies. What a server re-announces when it starts: delivery notices in flight die with
    /// the process, and the devices without a session are owed a push. Bounded by `newest`,
    /// so it costs the same on a store of any size.
    fn recent_unacked(
        &self,
        newest: usize,
        window_ms: u64,
    ) -> BoxFuture<'_, Result<Vec<Unacked>, StoreError>>;

    // ---- receipts ----

    /// Records that `reader` read the messages `sender` sent it, up to `up_to` in server order.
    /// Monotonic: an `up_to` not newer than the recorded one is a no-op returning `None`;
    /// otherwise the mark advances, a read receipt is appended to every current device of
    /// `sender`, and it returns where: each device with the receipt's seq (the devices to
    /// wake). `NotFound` for an unknown message, `Forbidden` if `up_to` is not a message from
    /// `sender` to `reader`.
    fn record_read(
        &self,
        reader: UserId,
        sender: UserId,
        up_to: MessageId,
    ) -> BoxFuture<'_, Result<Option<Receipts>, StoreError>>;

    // ---- push ----

    /// Stores or replaces the device's push subscription (opaque serialized JSON).
    /// `NotFound` for an unknown device.
    fn set_push_subscription(
        &self,
        device: DeviceId,
        subscription: String,
    ) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Deletes the device's push subscription; returns whether one was deleted. With
    /// `only_if`, only while the stored subscription is still exactly that one: a push
    /// service's 404/410 about an old subscription must not delete the one the device
    /// registered meanwhile.
    fn delete_push_subscription(
        &self,
        device: DeviceId,
        only_if: Option<String>,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// The device's push subscription, if any.
    fn push_subscription(
        &self,
        device: DeviceId,
    ) -> BoxFuture<'_, Result<Option<String>, StoreError>>;

    /// The push subscriptions of all current devices of a user, by device.
    fn push_subscriptions(
        &self,
        user: UserId,
    ) -> BoxFuture<'_, Result<Vec<(DeviceId, String)>, StoreError>>;

    // ---- lifecycle ----

    /// Finishes the writes already queued, then stops; later calls fail with `Backend`.
    /// Dropping the store without closing it is safe too (nothing acknowledged is lost), but
    /// closing lets the caller wait until the files are released.
    fn close(&self) -> BoxFuture<'_, ()>;
}

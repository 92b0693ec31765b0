//! Durable storage of Pigeon's direct-messaging server.
//!
//! The server only ever sees ciphertext, so what it stores is accounts, devices, public keys,
//! per-device mailboxes of opaque ciphertext, receipts and push subscriptions. This crate puts
//! all of that behind one object-safe trait, [`Store`], so the server holds an `Arc<dyn Store>`
//! and does not care whether SQLite (the embedded default) or PostgreSQL (for scale, later) is
//! underneath.
//!
//! * `types`: ids, tokens and the records that cross the trait.
//! * `error`: [`StoreError`] (what the server maps to 404/409/403/400/500) and [`SendError`].
//! * `store`: the [`Store`] trait, with the semantics every implementation must keep.
//! * `targets`: [`SendRequest::check_targets`], which copies a send must have.
//! * `mailbox_row`: [`MailboxRow`], a mailbox entry as the columns every SQL store keeps, and
//!   [`check_assigned`], the seq rule every store's ack applies.
//! * `sqlite`: [`SqliteStore`], one writer thread doing group commit plus a pool of read-only
//!   connections.
//! * `conformance` (feature `conformance`): the behaviour suite every implementation must pass,
//!   expanded into tests by `store_conformance_tests!`.
//!
//! A round trip: bob's device receives, acks, and alice's device gets the delivery receipt.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use pigeon_store::{Acked, DeviceCopy, MailboxItem, SendRequest, SqliteStore, Store};
//!
//! let dir = tempfile::tempdir()?;
//! let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("pigeon.db")).await?);
//! let alice = store.create_user("alice".into(), "laptop".into()).await?;
//! let bob = store.create_user("bob".into(), "phone".into()).await?;
//!
//! // Alice's client encrypted once per target device: bob's phone (she has no other device).
//! let sent = store
//!     .send(SendRequest {
//!         sender_device: alice.device_id.clone(),
//!         client_msg_id: "c-1".into(),
//!         recipient_user: bob.user_id.clone(),
//!         copies: vec![DeviceCopy {
//!             device_id: bob.device_id.clone(),
//!             envelope_type: 0,
//!             ciphertext: "<olm ciphertext>".into(),
//!         }],
//!         trace_context: None,
//!     })
//!     .await?;
//!
//! let inbox = store.fetch(bob.device_id.clone(), 0, 100).await?;
//! assert_eq!(inbox[0].seq, 1);
//! // The ack records the delivery, in the same commit, and says which devices to tell.
//! let Acked::Message(delivery) = store.ack(bob.device_id.clone(), 1).await? else {
//!     panic!("a message");
//! };
//! assert_eq!(delivery.receipts, [(alice.device_id.clone(), 1)]);
//!
//! let receipts = store.fetch(alice.device_id.clone(), 0, 100).await?;
//! assert!(matches!(
//!     &receipts[0].item,
//!     MailboxItem::DeliveryReceipt { message_id, .. } if *message_id == sent.message_id
//! ));
//! # Ok(())
//! # }
//! ```

mod error;
mod mailbox_row;
mod sqlite;
mod store;
mod targets;
mod types;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::{SendError, StaleDevices, StoreError, UserDevices};
pub use mailbox_row::{MailboxKind, MailboxRow, check_assigned};
pub use sqlite::{CommitStats, SqliteConfig, SqliteStore};
pub use store::Store;
pub use types::{
    Acked, Authenticated, ClaimedKey, Delivery, DeviceCopy, DeviceId, DeviceInfo, DeviceToken,
    KeyUpload, MailboxEntry, MailboxItem, MessageId, NewAccount, NewDevice, Receipts, SendOutcome,
    SendRequest, SignedKey, Unacked, UnackedRow, UserId,
};

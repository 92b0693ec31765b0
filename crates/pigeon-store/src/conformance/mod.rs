//! The storage conformance suite: what every [`Store`] implementation must do, tested the same
//! way for each (SQLite now, PostgreSQL later).
//!
//! An implementation's test file implements [`Harness`] (how to open a store on its storage)
//! and invokes [`store_conformance_tests!`](crate::store_conformance_tests), which expands to
//! one `#[tokio::test]` per case. Cases make their own users with unique names, so they can
//! share a database.
//!
//! The cases: accounts and devices, token authentication, idempotent key upload, claims (once
//! ever, then the fallback; concurrent claimers), send (one entry per device, retries and racing
//! duplicates, stale device lists, device changes between sends, unknown recipients, gapless
//! seqs under concurrent sends),
//! mailbox paging and acks (with a randomised check that an acked entry never comes back), the
//! recent messages still owed to devices (re-announced at start),
//! delivery and read receipts (idempotent, monotonic, only for addressed devices), push
//! subscriptions, and restart durability.

// Test support: failing loudly on a broken expectation is the point here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod accounts;
mod durability;
mod keys;
mod mailbox;
mod push;
mod receipts;
mod sending;
mod support;

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::Store;

pub use accounts::{tokens_authenticate_by_hash, users_and_devices};
pub use durability::restart_keeps_everything_acknowledged;
pub use keys::{
    claims_hand_out_each_key_once_then_the_fallback, concurrent_claims_never_share_a_key,
    key_upload_is_idempotent,
};
pub use mailbox::{
    acked_entries_never_return, fetch_pages_and_ack_hides, recent_unacked_lists_copies_still_owed,
};
pub use push::push_subscriptions_are_stored_per_device;
pub use receipts::{
    acks_of_many_seqs_are_all_or_nothing, delivery_receipts_reach_every_sender_device,
    read_receipts_never_move_backwards,
};
pub use sending::{
    concurrent_sends_keep_seqs_gapless, device_changes_count_at_the_next_send,
    racing_duplicate_sends_store_once, retried_send_returns_the_original,
    send_stores_one_entry_per_target_device, stale_device_lists_are_refused,
    unknown_recipient_is_refused,
};

/// How a store under test is made.
pub trait Harness: Send + Sync + 'static {
    /// Opens a store on this harness's storage. Called again after a `close` to simulate a
    /// restart of the process.
    fn open(&self) -> BoxFuture<'_, Arc<dyn Store>>;
}

/// Expands to the conformance suite as tests, for a harness made by `$make` (an expression
/// evaluated once per test).
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(@cases $make;
            users_and_devices, tokens_authenticate_by_hash, key_upload_is_idempotent,
            claims_hand_out_each_key_once_then_the_fallback, concurrent_claims_never_share_a_key,
            send_stores_one_entry_per_target_device, retried_send_returns_the_original,
            racing_duplicate_sends_store_once, stale_device_lists_are_refused,
            device_changes_count_at_the_next_send, unknown_recipient_is_refused,
            concurrent_sends_keep_seqs_gapless,
            fetch_pages_and_ack_hides, acked_entries_never_return,
            recent_unacked_lists_copies_still_owed,
            delivery_receipts_reach_every_sender_device, read_receipts_never_move_backwards,
            acks_of_many_seqs_are_all_or_nothing,
            push_subscriptions_are_stored_per_device, restart_keeps_everything_acknowledged);
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let harness = $make;
                $crate::conformance::$case(&harness).await;
            }
        )*
    };
}

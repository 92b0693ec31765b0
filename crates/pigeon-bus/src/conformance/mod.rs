//! The conformance suite: what every backend must do, tested the same way for each.
//!
//! A backend's test file implements [`Harness`] (how to open the backend, and whether a
//! re-opened backend keeps what the previous one accepted) and invokes
//! [`conformance_tests!`](crate::conformance_tests), which expands to one `#[tokio::test]` per
//! case. Cases use fresh topic and group names, so they can share a server and run in parallel.
//!
//! The cases: publish and consume, consumer groups, per-key order (also across a retry),
//! redelivery after the ack deadline, nack with delay, dead-letter after max attempts and on
//! demand, panicking handlers, backpressure, oversized messages, drain at shutdown, restart
//! durability, and span parentage and attributes (including malformed trace context).

// Test support: failing loudly on a broken expectation is the point here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod delivery;
mod durability;
mod support;
mod tracing_cases;

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::Backend;

pub use delivery::{
    dead_letter_after_max_attempts, dead_letter_on_demand, groups_share_and_fan_out,
    nack_with_delay_redelivers, nack_with_delay_redelivers_keyed, panicking_handler_is_retried,
    per_key_order, publish_and_consume, redelivery_after_ack_deadline,
};
pub use durability::{
    backpressure_bounds_in_flight, oversized_is_refused, restart_keeps_unacked,
    shutdown_drains_in_flight,
};
pub use tracing_cases::{
    context_rides_in_a_payload_field, malformed_trace_context_starts_a_root,
    spans_follow_the_message,
};

/// How a backend under test is made.
pub trait Harness: Send + Sync + 'static {
    /// Opens a backend on this harness's storage. Called again after a shutdown to simulate a
    /// restart of the process.
    fn open(&self) -> BoxFuture<'_, Arc<dyn Backend>>;

    /// True when a backend opened after another one shut down still holds what that one
    /// accepted and did not see settled.
    fn durable(&self) -> bool;
}

/// Expands to the conformance suite as tests, for a harness made by `$make` (an expression
/// evaluated once per test). Add `durable` for a harness whose backends keep messages across a
/// re-open, to include the restart case.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@cases $make;
            publish_and_consume, groups_share_and_fan_out, per_key_order,
            redelivery_after_ack_deadline, nack_with_delay_redelivers,
            nack_with_delay_redelivers_keyed,
            dead_letter_after_max_attempts, dead_letter_on_demand,
            panicking_handler_is_retried, backpressure_bounds_in_flight, oversized_is_refused,
            shutdown_drains_in_flight, spans_follow_the_message,
            malformed_trace_context_starts_a_root, context_rides_in_a_payload_field);
    };
    ($make:expr, durable) => {
        $crate::conformance_tests!($make);
        $crate::conformance_tests!(@cases $make; restart_keeps_unacked);
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

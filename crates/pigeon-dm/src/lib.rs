//! pigeon-dm: the direct-messaging server's HTTP API.
//!
//! The server only ever sees ciphertext: clients encrypt once per target device with Olm
//! (`pigeon-crypto`), and the server stores each copy durably in the target device's mailbox
//! before it answers.
//!
//! * [`router`]: the axum router of the API (`/v1/…`), given a [`DmState`]; start a
//!   [`DeliveryRouter`] beside it so stored messages reach live sessions and push.
//! * `api`: one module per resource — accounts and devices, keys, messages, mailbox, receipts,
//!   push registration.
//! * `auth`: the `Authorization: Bearer` extractor; a device acts only as itself.
//!   `auth_cache` remembers recent tokens briefly, by hash.
//! * `json`: the JSON body extractor whose rejections are precise JSON errors.
//! * `error`: [`ApiError`], the one place where failures become HTTP statuses and
//!   `pigeon_proto::ErrorBody` codes.
//! * `convert`: store values ⇄ wire values.
//! * `ratelimit`: per-device token buckets (429 with `Retry-After`).
//! * `spans`: the server's spans of seed 000 (`messaging.persist`, the receipt spans) and its
//!   metrics, plus the HTTP SERVER span that continues the client's `traceparent`.
//!
//! * `gateway`: `GET /v1/ws` — live sessions that deliver the mailbox in order and take acks.
//! * `delivery`: the router over pigeon-bus (accept → router → gateway), and push fallback.
//! * [`SessionDirectory`]: which node holds a device's live session, so the router of one node
//!   hands a delivery to the node where the device is connected; [`LocalDirectory`] for one node.

mod api;
mod auth;
mod auth_cache;
mod config;
mod convert;
mod delivery;
mod directory;
mod error;
mod gateway;
mod json;
mod ratelimit;
mod spans;
mod state;

pub use api::{ROUTES, router};
pub use config::DmConfig;
pub use delivery::DeliveryRouter;
pub use directory::{DirectoryError, LocalDirectory, SessionDirectory};
pub use error::ApiError;
pub use state::DmState;

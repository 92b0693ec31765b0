//! The push fallback of the Pigeon DM server.
//!
//! When a recipient device has no live WebSocket session, or does not ack within the ack
//! timeout, the server pushes a notice to the device's push target. The server decides *when*
//! (DESIGN.md, "Direct messaging: semantics"); this crate does the sending. A notice carries
//! ids only, never plaintext: `{"type":"message","message_id":…,"sender":…}`.
//!
//! * [`VapidKeys`] (`vapid.rs`): the server's RFC 8292 identity, made at first start and kept
//!   in a 0600 file in the data dir; its public key is the browsers' `applicationServerKey`.
//! * [`PushSubscription`] (`subscription.rs`): a Web Push subscription or a webhook, validated
//!   whenever it is built or deserialized.
//! * [`PushNotice`] (`notice.rs`): what a push says.
//! * [`Pusher`] (`pusher.rs`): sends a notice to a subscription; one shared HTTP client
//!   (`client.rs`), retries with backoff and `Retry-After` (`retry.rs`), configured by
//!   [`PushConfig`] (`config.rs`: documented defaults, a `PIGEON_PUSH_*` env layer).
//! * Web Push requests (`webpush.rs`): RFC 8291 `aes128gcm` body, `TTL`, `Urgency`, `Topic`,
//!   VAPID `Authorization`. Webhook requests (`webhook.rs`): JSON body, optional
//!   `Pigeon-Signature: sha256=<hex HMAC-SHA256>`.
//! * [`PushOutcome`] (`outcome.rs`): `Delivered` or `Gone` (404/410: delete the subscription),
//!   with [`PushOutcome::provider`] and [`PushOutcome::success`] for the caller's
//!   `messaging.deliver_push` span. Failures are [`PushError`]s (`error.rs`).
//! * Metrics (`metrics.rs`) through the OpenTelemetry API only.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use pigeon_push::{PushConfig, PushNotice, PushOutcome, PushSubscription, Pusher, VapidKeys};
//!
//! let vapid = VapidKeys::load_or_create("/var/lib/pigeon/vapid.key")?;
//! let pusher = Pusher::new(PushConfig::default().with_vapid_subject("mailto:ops@example.com"), vapid)?;
//! let sub = PushSubscription::webhook("https://hooks.example.com/pigeon", Some("s3cret".into()))?;
//! match pusher.send(&sub, &PushNotice::message("msg-1", "user-7")).await? {
//!     PushOutcome::Delivered { attempts, .. } => println!("delivered after {attempts}"),
//!     PushOutcome::Gone { .. } => println!("delete the subscription"),
//! }
//! # Ok(()) }
//! ```

mod client;
mod config;
mod error;
mod metrics;
mod notice;
mod outcome;
mod pusher;
mod retry;
mod subscription;
mod vapid;
mod webhook;
mod webpush;

pub use config::{EnvError, MAX_VAPID_VALIDITY, PushConfig, Urgency};
pub use error::{Failure, PushError, PusherBuildError, SubscriptionError, VapidKeyError};
pub use notice::{InvalidTopic, MAX_NOTICE_BYTES, NoticeKind, PushNotice};
pub use outcome::PushOutcome;
pub use pusher::Pusher;
pub use subscription::PushSubscription;
pub use vapid::VapidKeys;
pub use webhook::SIGNATURE_HEADER;

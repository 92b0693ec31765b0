//! The ITuna sushi restaurant's order pipeline (seed 001) on pigeon-bus, traced end to end.
//!
//! Five services pass JSON orders over the bus; every order is one trace from the service that
//! placed it, through order-validation's three checks, to the kitchen. Run each service as its
//! own process over NATS (`orders <service> --bus nats://…`) or all five in one process
//! (`orders all --bus memory`, or [`run_all`]).
//!
//! ```text
//! website-ordering ─┐
//!                   ├─► orders.validate ─► order-validation ─┬─► orders.kitchen ─► kitchen-service
//! onsite-ordering ──┘    (address, name, inventory)          └─► orders.rejected
//! direct-kitchen-ordering ───────────────────────────────────────► orders.kitchen
//! ```
//!
//! # Components
//! * `order`: [`Order`], [`Source`] and the [`MENU`] — the JSON payload.
//! * `topics`: [`Topics`] — topic names under an optional prefix.
//! * `knobs`: [`Knobs`] — step times within realistic ranges, `--slow` and `--fail`.
//! * `config`: [`PipelineConfig`], [`Schedule`] — what the services share.
//! * `service`: [`Service`], [`ServiceWiring`], [`Wiring`] — a bus and a tracer per service, so
//!   each span names the service that made it.
//! * `spans`: child spans for timed steps, failures recorded as error spans.
//! * `ordering` (shared by `website`, `onsite`, `direct`): orders placed on a timer, each in a
//!   root `place-order` span — [`run_website_ordering`], [`run_onsite_ordering`],
//!   [`run_direct_kitchen_ordering`].
//! * `validation`: [`run_order_validation`] — `validate-address`, `validate-name`,
//!   `validate-inventory` as child spans of the CONSUMER span; rejects go to `orders.rejected`.
//! * `kitchen`: [`run_kitchen_service`] — the `cook` span, "order ready", the optional ready log.
//! * `ready_log`: [`ReadyRecord`] — one JSON line per ready order, with its trace id.
//! * `pipeline`: [`run_all`] — all five in one process.
//! * `error`: [`ServiceError`] — what stops a service (per-order failures never do).

mod config;
mod direct;
mod error;
mod kitchen;
mod knobs;
mod onsite;
mod order;
mod ordering;
mod pipeline;
mod ready_log;
mod service;
mod spans;
mod topics;
mod validation;
mod website;

pub use config::{PipelineConfig, Schedule};
pub use direct::run_direct_kitchen_ordering;
pub use error::ServiceError;
pub use kitchen::run_kitchen_service;
pub use knobs::{Fail, KnobError, Knobs, Slow, Step, parse_duration};
pub use onsite::run_onsite_ordering;
pub use order::{DecodeError, MENU, Order, Source};
pub use pipeline::run_all;
pub use ready_log::ReadyRecord;
pub use service::{Service, ServiceWiring, TRACER_NAME, Wiring};
pub use spans::ORDER_ID;
pub use topics::{REJECTED_REASON_HEADER, Topics};
pub use validation::{Rejection, run_order_validation};
pub use website::run_website_ordering;

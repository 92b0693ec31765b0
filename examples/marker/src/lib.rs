//! Seed 002's marker pipeline, on pigeon-bus.
//!
//! A person creates a mark on a web page; the page starts the trace in the browser
//! (`publish-message`, OpenTelemetry JS) and posts the mark with its context to the gateway,
//! which publishes it to `internal`. **processor** adds `processed: true` and publishes it to
//! `external`; **persister** appends it as one JSON line to `messages.jsonl`, fsynced before
//! the ack and once per mark id. One trace: `publish-message` → `send internal` →
//! `process internal` → `process-message` → `send external` → `process external` →
//! `persist-message`.
//!
//! Context rides in headers, or ([`ContextCarrier::CorrelationId`](pigeon_bus::ContextCarrier))
//! in a `CorrelationId` field of the JSON, the seed's technique for brokers without headers.
//! Failures are spans, never silence: invalid JSON is an error span with an exception event
//! and the message is dead-lettered with its reason; a failed write is an error span and a
//! retry with backoff, and the message stays unacked until its line is on disk.
//!
//! * `web`: the page, its assets (the OpenTelemetry JS bundle is built from `web/` and
//!   committed) and the gateway endpoint `POST /marker/api/marks`.
//! * `processor`, `persister`: the two services; `jsonl`: the append-only file.
//! * `topics`, `spans`, `carrier`: names and span helpers they share.

mod carrier;
mod error;
mod jsonl;
mod persister;
mod processor;
mod spans;
mod topics;
mod web;

pub use carrier::{carrier_name, parse_carrier};
pub use error::MarkerError;
pub use jsonl::{Appended, JsonlFile};
pub use persister::{PERSISTER_GROUP, start_persister};
pub use processor::{PROCESSOR_GROUP, start_processor};
pub use spans::{MESSAGE_ID, TRACER_NAME};
pub use topics::Topics;
pub use web::{MAX_MARK_BYTES, WebConfig, router};

/// The `service.name` of each part, as the seed names them (the browser page is `marker`).
pub mod services {
    /// The web page, in the browser.
    pub const MARKER: &str = "marker";
    /// The HTTP endpoint the page posts marks to.
    pub const GATEWAY: &str = "marker-gateway";
    /// `internal` → `external`.
    pub const PROCESSOR: &str = "processor";
    /// `external` → `messages.jsonl`.
    pub const PERSISTER: &str = "persister";
}

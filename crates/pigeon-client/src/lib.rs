//! pigeon-client: the SDK a Pigeon app is built on.
//!
//! * [`Client`] (`client`): one device of one user — registers, publishes and tops up its Olm
//!   keys, sends text end-to-end encrypted to every device of the recipient and to its own
//!   other devices, marks messages read.
//! * [`Connection`] (`connection`, its task in `driver`): the live WebSocket — decrypts what
//!   arrives, acks it, yields [`Event`]s, and reconnects with backoff; the server resends
//!   everything unacked, so nothing is lost and duplicates are dropped here. While it is open,
//!   sends go over it rather than one HTTP request each.
//! * `api`: the HTTP calls, typed with `pigeon-proto`, each carrying `traceparent`.
//! * `crypto`: the device's Olm account, its sessions per peer device and the peers' identity
//!   keys, behind one lock.
//! * `profile`: [`Client::save`] / [`Client::load`] — a device kept across restarts, its Olm
//!   state pickled encrypted.
//! * [`ClientError`] (`error`): what can fail, with the server's error code when it answered.
//!
//! The client opens the seed's `messaging.send` and `messaging.encrypt` spans, so one trace
//! runs from here through the server to the recipient's ack.

mod api;
mod client;
mod connection;
mod crypto;
mod driver;
mod error;
mod profile;

pub use client::{Client, Credentials, Sent};
pub use connection::{Connection, Event};
pub use error::ClientError;

//! pigeon-cluster: what several `pigeon serve` nodes share beyond the bus and the database.
//!
//! A delivery must reach the node where the device's WebSocket is. Each node claims its
//! devices in a JetStream KV bucket (device → node id) and keeps a heartbeat in another bucket
//! whose entries expire quickly, so a node that dies without cleaning up (`kill -9`) stops
//! being named as an owner within the expiry instead of swallowing deliveries.
//!
//! * `names`: bucket names from the cluster prefix, and KV-safe keys.
//! * `heartbeat`: the node's heartbeat loop, which also re-claims its devices after NATS
//!   comes back.
//! * `directory`: [`NatsDirectory`], the `pigeon_dm::SessionDirectory` over those buckets.

mod directory;
mod error;
mod heartbeat;
mod names;

pub use directory::{ClusterConfig, NatsDirectory};
pub use error::ClusterError;

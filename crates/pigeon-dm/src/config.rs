//! Settings of the DM API, with their defaults.

use std::time::Duration;

use pigeon_proto::Limits;

/// Settings of the DM API.
#[derive(Debug, Clone)]
pub struct DmConfig {
    /// Size and count limits (64 KiB ciphertexts, 64 targets, …).
    pub limits: Limits,
    /// Sends a device may make per second, sustained. Default 50.
    pub sends_per_second: f64,
    /// Sends a device may make in a burst. Default 200.
    pub send_burst: f64,
    /// Largest mailbox page. Default 500.
    pub max_page: usize,
    /// How long a live device has to ack a delivery before push takes over. Default 5 s.
    pub ack_timeout: Duration,
    /// The `db.system` of the store, for spans ("sqlite", "postgresql"). Default "sqlite".
    pub db_system: String,
    /// This node's name: the `websocket.server` of its sessions, and its router's consumer
    /// group. Default "node-1".
    pub node_id: String,
    /// Prepended to every DM bus topic (`{prefix}dm.deliver`, …), so several clusters — or
    /// parallel tests — share one NATS server without hearing each other. Default empty; when
    /// set it ends with `.` (e.g. `blue.`).
    pub topic_prefix: String,
}

impl Default for DmConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            sends_per_second: 50.0,
            send_burst: 200.0,
            max_page: 500,
            ack_timeout: Duration::from_secs(5),
            db_system: "sqlite".into(),
            node_id: "node-1".into(),
            topic_prefix: String::new(),
        }
    }
}

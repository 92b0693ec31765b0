//! Errors of the operations this crate adds to the [`Backend`](pigeon_bus::Backend) contract:
//! connecting, and measuring the raw baseline. Errors of publishing and consuming are
//! `pigeon_bus`'s own, so the bus handles them the same for every backend.

use thiserror::Error;

/// Why [`NatsBackend::connect`](crate::NatsBackend::connect) failed.
#[derive(Debug, Error)]
pub enum ConnectError {
    /// The URL (or list of URLs) does not parse as NATS server addresses.
    #[error("invalid NATS server address {url:?}: {reason}")]
    InvalidUrl {
        /// What was given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The server refused our credentials.
    #[error("NATS refused the credentials: {0}")]
    Auth(String),
    /// No server could be reached (DNS, TCP, TLS or timeout).
    #[error("cannot reach NATS at {url:?}: {reason}")]
    Unreachable {
        /// Where we tried.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The server is up but JetStream is not enabled for this account (start it with `-js`).
    #[error("JetStream is not available on this NATS server: {0}")]
    JetStreamUnavailable(String),
}

/// Why [`raw_jetstream_baseline`](crate::raw_jetstream_baseline) could not measure.
#[derive(Debug, Error)]
pub enum BaselineError {
    /// Connecting failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// Creating the scratch stream or its consumer failed.
    #[error("setting up the baseline stream failed: {0}")]
    Setup(String),
    /// A publish, pull or ack failed during the run.
    #[error("baseline run failed: {0}")]
    Run(String),
}

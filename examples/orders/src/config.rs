//! [`PipelineConfig`]: everything the services need besides their bus, with the seed's defaults.

use std::path::PathBuf;
use std::time::Duration;

use crate::{Knobs, Topics};

/// When an ordering service places orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Time between two orders (the first is placed at once); zero places them as fast as the
    /// bus takes them.
    pub every: Duration,
    /// Stop after this many orders (failed placements count too); `None` runs until shutdown.
    pub limit: Option<u64>,
}

impl Schedule {
    /// An order every `every`, until shutdown.
    pub fn every(every: Duration) -> Self {
        Self { every, limit: None }
    }

    /// Stops after `n` orders.
    pub fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }
}

/// Configuration shared by the five services.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Topic names. Default `orders.validate`, `orders.kitchen`, `orders.rejected`.
    pub topics: Topics,
    /// Step times and failures. Default: realistic ranges, no failures.
    pub knobs: Knobs,
    /// website-ordering. Default: every 3 s.
    pub website: Schedule,
    /// onsite-ordering. Default: every 4 s.
    pub onsite: Schedule,
    /// direct-kitchen-ordering. Default: every 7 s.
    pub direct: Schedule,
    /// kitchen-service appends one JSON line per ready order here (`order_id`, `trace_id`,
    /// `dish`, `source`). Default: none.
    pub ready_log: Option<PathBuf>,
    /// Orders a consumer works on at once. Default 16.
    pub max_in_flight: usize,
    /// How long a consumer waits for orders in progress at shutdown. Default 10 s.
    pub drain_timeout: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            topics: Topics::default(),
            knobs: Knobs::default(),
            website: Schedule::every(Duration::from_secs(3)),
            onsite: Schedule::every(Duration::from_secs(4)),
            direct: Schedule::every(Duration::from_secs(7)),
            ready_log: None,
            max_in_flight: 16,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

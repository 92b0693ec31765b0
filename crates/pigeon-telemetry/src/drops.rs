//! Counters of spans lost on purpose, so loss is visible instead of silent.
//!
//! Every queue in this crate is bounded and drops when full ("drop and count"): the application
//! must never wait for telemetry. These counters are what `/metrics` shows as
//! `pigeon_spans_dropped_total{reason=…}` and what [`crate::Telemetry::spans_dropped`] sums.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Spans dropped so far, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpanDrops {
    /// The in-process span queue was full when the span ended.
    pub sink_full: u64,
    /// The OTLP export queue was full when the span reached it.
    pub export_queue_full: u64,
    /// The OTLP export request failed (receiver down, timeout, rejected).
    pub export_failed: u64,
}

impl SpanDrops {
    /// All drops together.
    pub fn total(&self) -> u64 {
        self.sink_full + self.export_queue_full + self.export_failed
    }
}

/// Shared, lock-free drop counters, plus a "warned once" flag per reason.
#[derive(Debug, Default)]
pub(crate) struct DropCounters {
    pub(crate) sink_full: AtomicU64,
    pub(crate) export_queue_full: AtomicU64,
    pub(crate) export_failed: AtomicU64,
    warned_sink_full: AtomicBool,
    warned_export_queue_full: AtomicBool,
    warned_export_failed: AtomicBool,
}

impl DropCounters {
    pub(crate) fn snapshot(&self) -> SpanDrops {
        SpanDrops {
            sink_full: self.sink_full.load(Ordering::Relaxed),
            export_queue_full: self.export_queue_full.load(Ordering::Relaxed),
            export_failed: self.export_failed.load(Ordering::Relaxed),
        }
    }

    /// Logs one warning per reason, the first time drops of that reason are seen. Called from
    /// the sink's and exporter's own threads, never from `on_end` (an event emitted inside the
    /// subscriber's span-close callback would be swallowed, and the hot path must stay cheap).
    pub(crate) fn warn_once(&self, export_error: Option<&str>) {
        let once = |count: &AtomicU64, flag: &AtomicBool, what: &str| {
            let n = count.load(Ordering::Relaxed);
            if n > 0 && !flag.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    dropped = n,
                    "{what}; dropping spans (counted in pigeon_spans_dropped_total, warned once)"
                );
            }
        };
        once(
            &self.sink_full,
            &self.warned_sink_full,
            "in-process span queue full",
        );
        once(
            &self.export_queue_full,
            &self.warned_export_queue_full,
            "OTLP export queue full",
        );
        if let Some(error) = export_error {
            let n = self.export_failed.load(Ordering::Relaxed);
            if !self.warned_export_failed.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    dropped = n,
                    %error,
                    "OTLP export failed; dropping spans (counted in pigeon_spans_dropped_total, warned once)"
                );
            }
        }
    }
}

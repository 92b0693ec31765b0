//! Pigeon's journey store: finished spans kept in memory (optionally on disk), indexed by the
//! ids a message carries, and queried as *journeys* — every trace a message touched, joined
//! into one timeline.
//!
//! It has its own span record and no OpenTelemetry SDK inside: `pigeon-telemetry` converts
//! SDK spans and the OTLP receiver converts wire spans into [`SpanRecord`]s, so this crate
//! stays a leaf that the HTTP API, the web UI and the CLI can share.
//!
//! ```
//! use pigeon_journey::{JourneyOptions, JourneyStore, KeyValue, SpanId, SpanRecord, TraceId};
//!
//! let store = JourneyStore::in_memory();
//! let now = pigeon_journey::now_unix_nano(); // older than the retention age is evicted
//! store.ingest(vec![SpanRecord {
//!     trace_id: TraceId([1; 16]),
//!     span_id: SpanId([1; 8]),
//!     name: "messaging.send".into(),
//!     service: "pigeon-dm".into(),
//!     start_unix_nano: now,
//!     end_unix_nano: now + 1_000_000,
//!     attributes: vec![KeyValue::new("message.id", "m-42")],
//!     ..SpanRecord::default()
//! }]);
//! store.drain()?;
//! let journey = store.journey("m-42", &JourneyOptions::default());
//! assert_eq!(journey.spans.len(), 1);
//! # Ok::<(), pigeon_journey::PersistError>(())
//! ```
//!
//! Components:
//! * record: the span record taken in and handed back (owned, serde)
//! * id: trace and span ids, hex on the wire
//! * intern: the symbol table for names and keys
//! * compact: the stored form of a span (80-byte head + varint blob)
//! * arena: chunked storage with stable indices and cheap eviction from the front
//! * index: trace, value and backlink indexes, all hash → span indices
//! * ingest: the bounded, sharded, never-blocking ingest queue ([`Ingestor`])
//! * state: the store's locked state, insert and evict kept consistent
//! * retention: eviction by bytes and age
//! * codec, persist: framed, CRC-checked segment files and their replay
//! * store: [`JourneyStore`], drains and the query entry points
//! * query: trace search, journeys, latency, service graph, stuck journeys
//! * bench: the `pigeon bench journey` workload ([`bench()`])

mod arena;
mod bench;
mod codec;
mod compact;
mod config;
mod error;
mod hash;
mod id;
mod index;
mod ingest;
mod intern;
mod persist;
mod query;
mod record;
mod retention;
mod state;
mod store;
#[cfg(test)]
mod testgen;
mod wire;

pub use bench::{BenchOptions, BenchReport, bench, bench_with};
pub use config::{DEFAULT_DRAIN_EVERY, DEFAULT_INDEXED_KEYS, Retention, StoreConfig};
pub use error::{OpenError, PersistError, QueryError};
pub use id::{ParseIdError, SpanId, TraceId};
pub use ingest::Ingestor;
pub use query::{
    EdgeKind, FlowRule, Journey, JourneyOptions, JourneySpan, JourneyTrace, LatencyStats,
    NameMatch, Percentiles, QUEUE_TIME_ATTR, ServiceEdge, ServiceGraph, SpanMatcher, SpanRef, Step,
    StuckJourney, TimeRange, TraceQuery, TraceSummary,
};
pub use record::{AttrValue, Event, KeyValue, Link, SpanKind, SpanRecord, Status};
pub use store::{Drainer, JourneyStore, StoreStats, now_unix_nano};

//! Builders for realistic spans and the shared multi-trace scenario.
#![allow(dead_code, unreachable_pub)]

use pigeon_journey::{KeyValue, Link, SpanId, SpanKind, SpanRecord, Status, TraceId};

pub const MS: u64 = 1_000_000;

pub fn trace(n: u8) -> TraceId {
    TraceId([n; 16])
}

pub fn span_id(t: u8, n: u8) -> SpanId {
    SpanId([t, n, 0, 0, 0, 0, 0, 1])
}

/// A span builder: `Span::new(trace, n, name, service).start(t).dur(d)...build()`.
pub struct Span(SpanRecord);

impl Span {
    pub fn new(t: u8, n: u8, name: &str, service: &str) -> Self {
        Self(SpanRecord {
            trace_id: trace(t),
            span_id: span_id(t, n),
            name: name.into(),
            service: service.into(),
            resource: vec![KeyValue::new("host.name", format!("{service}-0"))],
            ..SpanRecord::default()
        })
    }
    pub fn parent(mut self, n: u8) -> Self {
        self.0.parent_span_id = Some(span_id(self.0.trace_id.0[0], n));
        self
    }
    pub fn kind(mut self, k: SpanKind) -> Self {
        self.0.kind = k;
        self
    }
    pub fn at(mut self, start: u64, dur: u64) -> Self {
        self.0.start_unix_nano = start;
        self.0.end_unix_nano = start + dur;
        self
    }
    pub fn attr(mut self, k: &'static str, v: impl Into<pigeon_journey::AttrValue>) -> Self {
        self.0.attributes.push(KeyValue::new(k, v));
        self
    }
    pub fn link(mut self, t: u8, n: u8) -> Self {
        self.0.links.push(Link {
            trace_id: trace(t),
            span_id: span_id(t, n),
            attributes: vec![KeyValue::new("link.reason", "follows")],
        });
        self
    }
    pub fn error(mut self, msg: &str) -> Self {
        self.0.status = Status::Error {
            message: msg.into(),
        };
        self
    }
    pub fn build(self) -> SpanRecord {
        self.0
    }
}

/// Trace numbers of the scenario.
pub mod t {
    /// DM send of m-1 (gateway → dm → bus → router).
    pub const SEND: u8 = 0xA;
    /// Delivery receipt of m-1, linked to the send.
    pub const RECEIPT: u8 = 0xB;
    /// An audit trace linking to the receipt, no id.
    pub const AUDIT: u8 = 0xC;
    /// DM send of m-2, never delivered.
    pub const LOST: u8 = 0xD;
    /// Order bus hop website → kitchen with a measured queue time.
    pub const ORDER: u8 = 0xE;
    /// Marker flow missing persist-message, with an error.
    pub const MARKER_STUCK: u8 = 0xF;
    /// Complete marker flow.
    pub const MARKER_OK: u8 = 0x1;
}

/// The scenario's spans, starting at `t0`.
pub fn scenario(t0: u64) -> Vec<SpanRecord> {
    use SpanKind::*;
    use t::*;
    vec![
        // The DM send of m-1.
        Span::new(SEND, 1, "POST /v1/messages", "pigeon-gateway")
            .kind(Server)
            .at(t0, 10 * MS)
            .attr("message.id", "m-1")
            .attr("http.response.status_code", 202i64)
            .build(),
        Span::new(SEND, 2, "messaging.send", "pigeon-dm")
            .parent(1)
            .at(t0 + MS, 4 * MS)
            .attr("message.id", "m-1")
            .attr("conversation.id", "c-1")
            .build(),
        Span::new(SEND, 3, "send dm.deliver", "pigeon-dm")
            .parent(2)
            .kind(Producer)
            .at(t0 + 2 * MS, MS)
            .attr("messaging.system", "nats")
            .attr("messaging.message.id", "m-1")
            .build(),
        Span::new(SEND, 4, "process dm.deliver", "pigeon-router")
            .parent(3)
            .kind(Consumer)
            .at(t0 + 5 * MS, 2 * MS)
            .attr("messaging.system", "nats")
            .attr("messaging.message.id", "m-1")
            .build(),
        // The delivery receipt, later, in its own trace, linked to messaging.send.
        Span::new(RECEIPT, 1, "POST /v1/receipts", "pigeon-gateway")
            .kind(Server)
            .at(t0 + 50 * MS, 6 * MS)
            .attr("message.id", "m-1")
            .link(SEND, 2)
            .build(),
        Span::new(RECEIPT, 2, "messaging.delivery_receipt", "pigeon-dm")
            .parent(1)
            .at(t0 + 51 * MS, 2 * MS)
            .attr("message.id", "m-1")
            .build(),
        // Something linking to the receipt without carrying the id.
        Span::new(AUDIT, 1, "audit receipt", "audit")
            .kind(Consumer)
            .at(t0 + 60 * MS, MS)
            .link(RECEIPT, 2)
            .build(),
        // A DM that never got a receipt.
        Span::new(LOST, 1, "POST /v1/messages", "pigeon-gateway")
            .kind(Server)
            .at(t0 + 100 * MS, 9 * MS)
            .attr("message.id", "m-2")
            .build(),
        Span::new(LOST, 2, "messaging.send", "pigeon-dm")
            .parent(1)
            .at(t0 + 101 * MS, 6 * MS)
            .attr("message.id", "m-2")
            .build(),
        // An order crossing the bus, with a measured queue time.
        Span::new(ORDER, 1, "send orders", "website")
            .kind(Producer)
            .at(t0 + 200 * MS, MS)
            .attr("order.id", 42i64)
            .build(),
        Span::new(ORDER, 2, "process orders", "kitchen")
            .parent(1)
            .kind(Consumer)
            .at(t0 + 215 * MS, 20 * MS)
            .attr("order.id", 42i64)
            .attr("pigeon.queue_time_ms", 7.5f64)
            .build(),
        // Marker flow that never persisted.
        Span::new(MARKER_STUCK, 1, "publish-message", "marker-page")
            .kind(Producer)
            .at(t0 + 300 * MS, MS)
            .attr("CorrelationId", "corr-1")
            .build(),
        Span::new(MARKER_STUCK, 2, "process-message", "processor")
            .parent(1)
            .kind(Consumer)
            .at(t0 + 304 * MS, 3 * MS)
            .attr("CorrelationId", "corr-1")
            .error("invalid JSON")
            .build(),
        // Marker flow that completed.
        Span::new(MARKER_OK, 1, "publish-message", "marker-page")
            .kind(Producer)
            .at(t0 + 400 * MS, MS)
            .attr("CorrelationId", "corr-2")
            .build(),
        Span::new(MARKER_OK, 2, "process-message", "processor")
            .parent(1)
            .kind(Consumer)
            .at(t0 + 402 * MS, 2 * MS)
            .attr("CorrelationId", "corr-2")
            .build(),
        Span::new(MARKER_OK, 3, "persist-message", "persister")
            .parent(2)
            .kind(Consumer)
            .at(t0 + 405 * MS, MS)
            .attr("CorrelationId", "corr-2")
            .build(),
    ]
}

/// Two minutes ago, in unix nanos: old enough for 30 s deadlines, young for retention.
pub fn t0() -> u64 {
    pigeon_journey::now_unix_nano() - 120_000 * MS
}

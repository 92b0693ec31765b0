//! The synthetic traffic of the benchmark: Pigeon-shaped DM traces with bus hops and
//! linked delivery receipts, generated deterministically so runs are comparable.

use crate::id::{SpanId, TraceId};
use crate::record::{KeyValue, Link, SpanKind, SpanRecord, Status};

/// A tiny deterministic generator (xorshift64*), so runs are comparable.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The message id of message `i`.
pub(super) fn message_id(i: u64) -> String {
    format!("01J{i:016X}MSG")
}

fn resource(service: &str) -> Vec<KeyValue> {
    vec![
        KeyValue::new("service.version", "0.1.0"),
        KeyValue::new("host.name", format!("{service}-0")),
        KeyValue::new("telemetry.sdk.language", "rust"),
    ]
}

/// Generates the spans of message `i` (7 or 10) into `out`.
pub(super) fn message_spans(i: u64, base_ns: u64, rng: &mut Rng, out: &mut Vec<SpanRecord>) {
    let mid = message_id(i);
    let conv = format!("conv-{}", i % 5_000);
    let sender = format!("user-{}", rng.below(20_000));
    let mut trace = [0u8; 16];
    trace[..8].copy_from_slice(&i.to_be_bytes());
    trace[8..].copy_from_slice(&rng.next().to_le_bytes());
    let trace = TraceId(trace);
    let sid = |n: u64| {
        SpanId(
            ((i << 8) | n)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .to_le_bytes(),
        )
    };
    let t0 = base_ns + i * 2_000; // 500k messages per simulated second
    let ms = 1_000_000u64;
    let jitter = |rng: &mut Rng, max: u64| rng.below(max);
    let span = |n: u64,
                parent: Option<u64>,
                name: &str,
                kind: SpanKind,
                service: &str,
                start: u64,
                dur: u64,
                attributes: Vec<KeyValue>| SpanRecord {
        trace_id: trace,
        span_id: sid(n),
        parent_span_id: parent.map(sid),
        name: name.to_owned(),
        kind,
        service: service.to_owned(),
        start_unix_nano: start,
        end_unix_nano: start + dur,
        status: Status::Unset,
        attributes,
        events: Vec::new(),
        links: Vec::new(),
        resource: resource(service),
    };
    let bus = |op: &str, mid: &str| {
        vec![
            KeyValue::new("messaging.system", "nats"),
            KeyValue::new("messaging.destination.name", "dm.deliver"),
            KeyValue::new("messaging.operation.type", op),
            KeyValue::new("messaging.message.id", mid),
            KeyValue::new("messaging.message.body.size", 180 + (i % 400) as i64),
            KeyValue::new("messaging.client.id", "pigeon-dm-1"),
            KeyValue::new("server.address", "nats.internal"),
            KeyValue::new("network.protocol.name", "nats"),
        ]
    };
    let q = jitter(rng, 3 * ms);
    out.push(span(
        1,
        None,
        "POST /v1/messages",
        SpanKind::Server,
        "pigeon-gateway",
        t0,
        6 * ms + q,
        vec![
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("http.route", "/v1/messages"),
            KeyValue::new("http.response.status_code", 202i64),
            KeyValue::new("url.scheme", "https"),
            KeyValue::new("user_agent.original", "pigeon-sdk/0.1"),
            KeyValue::new("client.address", format!("10.0.{}.{}", i % 200, i % 250)),
            KeyValue::new("message.id", mid.as_str()),
            KeyValue::new("enduser.id", sender.as_str()),
        ],
    ));
    out.push(span(
        2,
        Some(1),
        "messaging.send",
        SpanKind::Internal,
        "pigeon-dm",
        t0 + 100_000,
        5 * ms,
        vec![
            KeyValue::new("message.id", mid.as_str()),
            KeyValue::new("conversation.id", conv.as_str()),
            KeyValue::new("pigeon.sender", sender.as_str()),
            KeyValue::new("pigeon.recipient_devices", 2i64),
            KeyValue::new("pigeon.ciphertext_bytes", 240i64),
            KeyValue::new("pigeon.encrypted", true),
        ],
    ));
    out.push(span(
        3,
        Some(2),
        "store message",
        SpanKind::Client,
        "pigeon-dm",
        t0 + 200_000,
        ms + jitter(rng, ms),
        vec![
            KeyValue::new("db.system.name", "sqlite"),
            KeyValue::new("db.operation.name", "INSERT"),
            KeyValue::new("db.collection.name", "messages"),
            KeyValue::new("message.id", mid.as_str()),
        ],
    ));
    out.push(span(
        4,
        Some(2),
        "send dm.deliver",
        SpanKind::Producer,
        "pigeon-dm",
        t0 + 2 * ms,
        300_000,
        bus("send", &mid),
    ));
    let mut consume = bus("process", &mid);
    consume.truncate(6);
    consume.push(KeyValue::new("pigeon.queue_time_ms", q as f64 / 1e6));
    out.push(span(
        5,
        Some(4),
        "process dm.deliver",
        SpanKind::Consumer,
        "pigeon-router",
        t0 + 2 * ms + q,
        2 * ms,
        consume,
    ));
    out.push(span(
        6,
        Some(5),
        "route",
        SpanKind::Internal,
        "pigeon-router",
        t0 + 2 * ms + q + 100_000,
        ms,
        vec![
            KeyValue::new("message.id", mid.as_str()),
            KeyValue::new(
                "pigeon.route",
                if i.is_multiple_of(3) {
                    "push"
                } else {
                    "websocket"
                },
            ),
            KeyValue::new("pigeon.devices_online", 1 + (i % 3) as i64),
        ],
    ));
    out.push(span(
        7,
        Some(6),
        "ws push",
        SpanKind::Client,
        "pigeon-gateway",
        t0 + 3 * ms + q,
        500_000,
        vec![
            KeyValue::new("message.id", mid.as_str()),
            KeyValue::new("network.transport", "tcp"),
            KeyValue::new("pigeon.frame", "message"),
        ],
    ));
    if i.is_multiple_of(2) {
        let mut rt = [0u8; 16];
        rt[..8].copy_from_slice(&rng.next().to_le_bytes());
        rt[8..].copy_from_slice(&i.to_le_bytes());
        let rtrace = TraceId(rt);
        let t1 = t0 + 40 * ms + jitter(rng, 20 * ms);
        let r = |n: u64,
                 parent: Option<u64>,
                 name: &str,
                 kind: SpanKind,
                 service: &str,
                 start: u64,
                 dur: u64,
                 attrs: Vec<KeyValue>| {
            let mut s = span(n, parent, name, kind, service, start, dur, attrs);
            s.trace_id = rtrace;
            s.span_id = sid(n + 100);
            s.parent_span_id = parent.map(|p| sid(p + 100));
            s
        };
        let mut first = r(
            1,
            None,
            "POST /v1/receipts",
            SpanKind::Server,
            "pigeon-gateway",
            t1,
            4 * ms,
            vec![
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("http.route", "/v1/receipts"),
                KeyValue::new("http.response.status_code", 204i64),
                KeyValue::new("message.id", mid.as_str()),
            ],
        );
        first.links.push(Link {
            trace_id: trace,
            span_id: sid(2),
            attributes: Vec::new(),
        });
        out.push(first);
        out.push(r(
            2,
            Some(1),
            "messaging.delivery_receipt",
            SpanKind::Internal,
            "pigeon-dm",
            t1 + 100_000,
            3 * ms,
            vec![
                KeyValue::new("message.id", mid.as_str()),
                KeyValue::new("conversation.id", conv.as_str()),
                KeyValue::new("pigeon.receipt", "delivered"),
            ],
        ));
        out.push(r(
            3,
            Some(2),
            "store receipt",
            SpanKind::Client,
            "pigeon-dm",
            t1 + 200_000,
            ms,
            vec![
                KeyValue::new("db.system.name", "sqlite"),
                KeyValue::new("db.operation.name", "UPDATE"),
                KeyValue::new("message.id", mid.as_str()),
            ],
        ));
    }
}

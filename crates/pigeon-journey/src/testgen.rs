//! Random span records for the encoding tests (a small hand-rolled property test: the
//! workspace has no proptest, and a seeded generator keeps failures reproducible).

use crate::id::{SpanId, TraceId};
use crate::record::{AttrValue, Event, KeyValue, Link, SpanKind, SpanRecord, Status};

pub(crate) struct Gen(u64);

impl Gen {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn text(&mut self) -> String {
        const PARTS: [&str; 8] = ["message", ".id", "é", "nats", "", "x", "🕊", "send "];
        let n = self.below(4);
        (0..n).map(|_| PARTS[self.below(8) as usize]).collect()
    }

    fn value(&mut self) -> AttrValue {
        match self.below(4) {
            0 => AttrValue::Str(self.text()),
            1 => AttrValue::Bool(self.below(2) == 1),
            2 => AttrValue::I64(self.next() as i64),
            _ => AttrValue::F64((self.next() >> 11) as f64 / 3.0 - 1e9),
        }
    }

    fn attrs(&mut self) -> Vec<KeyValue> {
        let n = self.below(6);
        (0..n)
            .map(|_| {
                let v = self.value();
                if self.below(2) == 0 {
                    KeyValue::new("message.id", v)
                } else {
                    KeyValue::new(self.text(), v)
                }
            })
            .collect()
    }

    pub(crate) fn record(&mut self) -> SpanRecord {
        let start = self.next() >> 2;
        SpanRecord {
            trace_id: TraceId(u128::from(self.next()).to_le_bytes()),
            span_id: SpanId(self.next().to_le_bytes()),
            parent_span_id: (self.below(2) == 0).then(|| SpanId(self.next().to_le_bytes())),
            name: self.text(),
            kind: SpanKind::from_u8(self.below(5) as u8).unwrap_or_default(),
            service: self.text(),
            start_unix_nano: start,
            end_unix_nano: start + self.below(1 << 40),
            status: match self.below(3) {
                0 => Status::Unset,
                1 => Status::Ok,
                _ => Status::Error {
                    message: self.text(),
                },
            },
            attributes: self.attrs(),
            events: (0..self.below(3))
                .map(|_| Event {
                    name: self.text(),
                    time_unix_nano: self.next(),
                    attributes: self.attrs(),
                })
                .collect(),
            links: (0..self.below(3))
                .map(|_| Link {
                    trace_id: TraceId(u128::from(self.next()).to_be_bytes()),
                    span_id: SpanId(self.next().to_be_bytes()),
                    attributes: self.attrs(),
                })
                .collect(),
            resource: self.attrs(),
        }
    }
}

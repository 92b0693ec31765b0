//! The stored form of a span: a fixed 80-byte [`Head`] plus a variable "blob" of bytes in the
//! arena.
//!
//! The head holds what every query filters on (ids, times, service, name, kind, status), so
//! scans never touch the blob. The blob holds the rest in a varint encoding in which keys,
//! event names and low-cardinality string values are [`Sym`]s: a typical bus span with eight
//! attributes costs 80 bytes of head and ~45 bytes of blob (measured by the bench, message ids
//! inline) instead of ~1 KiB as a [`SpanRecord`] with owned strings. Resource attribute sets repeat per process, so they are
//! stored once in [`Resources`] and referenced by number.
//!
//! Blob layout (each section present only when its flag is set, except attributes):
//! `attrs` · `status message` · `events` · `links` · `inline resource`, where
//! `attrs = count, (key sym, tag, value)*`.

use crate::hash::{FastMap, hash_text, table_bytes};
use crate::id::{SpanId, TraceId};
use crate::intern::{Interner, Sym};
use crate::record::{AttrValue, Event, KeyValue, Link, SpanKind, SpanRecord, Status};
use crate::wire::{DecodeError, Reader, put_str, put_varint, unzigzag, zigzag};

/// Marks "no previous span in this trace" in [`Head::prev_in_trace`].
pub(crate) const NO_SPAN: u64 = u64::MAX;

pub(crate) const F_STATUS_OK: u8 = 1;
pub(crate) const F_STATUS_ERROR: u8 = 1 << 1;
const F_STATUS_MSG: u8 = 1 << 2;
pub(crate) const F_EVENTS: u8 = 1 << 3;
pub(crate) const F_LINKS: u8 = 1 << 4;
const F_INLINE_RESOURCE: u8 = 1 << 5;
pub(crate) const F_PARENT: u8 = 1 << 6;

const T_STR: u8 = 0;
const T_SYM: u8 = 1;
const T_FALSE: u8 = 2;
const T_TRUE: u8 = 3;
const T_I64: u8 = 4;
const T_F64: u8 = 5;

/// Resource sets beyond this many distinct ones are stored inline in each span.
const MAX_RESOURCES: usize = 1 << 16;

/// The fixed part of a stored span.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    pub(crate) trace: TraceId,
    pub(crate) span: SpanId,
    pub(crate) parent: SpanId,
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// Index of the previous span of the same trace, or [`NO_SPAN`]: the trace index keeps
    /// only the newest span per trace and the spans form a chain backwards from it.
    pub(crate) prev_in_trace: u64,
    pub(crate) blob_off: u32,
    pub(crate) blob_len: u32,
    pub(crate) service: Sym,
    pub(crate) name: Sym,
    pub(crate) resource: u32,
    pub(crate) kind: SpanKind,
    pub(crate) flags: u8,
}

impl Head {
    pub(crate) fn is_error(&self) -> bool {
        self.flags & F_STATUS_ERROR != 0
    }

    pub(crate) fn duration(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    pub(crate) fn parent(&self) -> Option<SpanId> {
        (self.flags & F_PARENT != 0).then_some(self.parent)
    }
}

/// A borrowed attribute value inside a blob.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ValueRef<'a> {
    Str(&'a str),
    Sym(Sym),
    Bool(bool),
    I64(i64),
    F64(f64),
}

impl ValueRef<'_> {
    pub(crate) fn to_value(self, interner: &Interner) -> AttrValue {
        match self {
            Self::Str(s) => AttrValue::Str(s.to_owned()),
            Self::Sym(s) => AttrValue::Str(interner.resolve(s).to_owned()),
            Self::Bool(b) => AttrValue::Bool(b),
            Self::I64(i) => AttrValue::I64(i),
            Self::F64(f) => AttrValue::F64(f),
        }
    }

    /// Does this value's text form equal `text`?
    pub(crate) fn text_eq(self, text: &str, interner: &Interner) -> bool {
        match self {
            Self::Str(s) => s == text,
            Self::Sym(s) => interner.resolve(s) == text,
            other => other.to_value(interner).to_text() == text,
        }
    }

    pub(crate) fn as_f64(self, interner: &Interner) -> Option<f64> {
        match self {
            Self::I64(i) => Some(i as f64),
            Self::F64(f) => Some(f),
            other => other.to_value(interner).as_f64(),
        }
    }
}

/// Distinct resource attribute sets, each encoded once.
#[derive(Debug, Default)]
pub(crate) struct Resources {
    /// The last resource set seen per service and its id: a process sends the same set on
    /// every span, so this skips encoding and interning it again.
    last: FastMap<Sym, (Vec<KeyValue>, u32)>,
    by_bytes: FastMap<Box<[u8]>, u32>,
    list: Vec<Box<[u8]>>,
    bytes: usize,
}

impl Resources {
    fn id_for(&mut self, encoded: &[u8]) -> Option<u32> {
        if let Some(id) = self.by_bytes.get(encoded) {
            return Some(*id);
        }
        if self.list.len() >= MAX_RESOURCES {
            return None;
        }
        let id = self.list.len() as u32;
        let boxed: Box<[u8]> = encoded.into();
        self.bytes += 2 * boxed.len();
        self.list.push(boxed.clone());
        self.by_bytes.insert(boxed, id);
        Some(id)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.bytes
            + self.last.len() * 256
            + self.list.capacity() * std::mem::size_of::<Box<[u8]>>()
            + table_bytes(
                self.by_bytes.capacity(),
                std::mem::size_of::<(Box<[u8]>, u32)>(),
            )
    }
}

/// What the encoder needs besides the span: the tables to intern into and which keys are
/// indexed (their values are never interned and are reported back as hashes).
pub(crate) struct Encoder<'a> {
    pub(crate) interner: &'a mut Interner,
    pub(crate) resources: &'a mut Resources,
    /// `indexed[sym]` is true when attribute key `sym` is an indexed key.
    pub(crate) indexed: &'a [bool],
    pub(crate) scratch: &'a mut Vec<u8>,
}

fn put_attrs(out: &mut Vec<u8>, interner: &mut Interner, attrs: &[KeyValue]) {
    put_varint(out, attrs.len() as u64);
    for kv in attrs {
        let key = interner.intern_key(&kv.key);
        put_varint(out, u64::from(key.0));
        put_value(out, interner, &kv.value, true);
    }
}

fn put_value(out: &mut Vec<u8>, interner: &mut Interner, value: &AttrValue, may_intern: bool) {
    match value {
        AttrValue::Str(s) => match may_intern.then(|| interner.intern_value(s)).flatten() {
            Some(sym) => {
                out.push(T_SYM);
                put_varint(out, u64::from(sym.0));
            }
            None => {
                out.push(T_STR);
                put_str(out, s);
            }
        },
        AttrValue::Bool(false) => out.push(T_FALSE),
        AttrValue::Bool(true) => out.push(T_TRUE),
        AttrValue::I64(i) => {
            out.push(T_I64);
            put_varint(out, zigzag(*i));
        }
        AttrValue::F64(f) => {
            out.push(T_F64);
            out.extend_from_slice(&f.to_le_bytes());
        }
    }
}

impl Encoder<'_> {
    /// Appends the blob of `rec` to `blob` and returns the head (with `blob_off`/`blob_len`
    /// set and `prev_in_trace` left as [`NO_SPAN`]). Hashes of indexed values are pushed to
    /// `indexed_hashes`.
    pub(crate) fn encode(
        &mut self,
        rec: &SpanRecord,
        blob: &mut Vec<u8>,
        indexed_hashes: &mut Vec<u64>,
    ) -> Head {
        let off = blob.len();
        let mut flags = 0u8;
        match &rec.status {
            Status::Unset => {}
            Status::Ok => flags |= F_STATUS_OK,
            Status::Error { message } => {
                flags |= F_STATUS_ERROR;
                if !message.is_empty() {
                    flags |= F_STATUS_MSG;
                }
            }
        }
        if rec.parent_span_id.is_some() {
            flags |= F_PARENT;
        }

        put_varint(blob, rec.attributes.len() as u64);
        for kv in &rec.attributes {
            let key = self.interner.intern_key(&kv.key);
            put_varint(blob, u64::from(key.0));
            let is_indexed = self.indexed.get(key.0 as usize).copied().unwrap_or(false);
            if is_indexed {
                let h = hash_text(&kv.value.to_text());
                if !indexed_hashes.contains(&h) {
                    indexed_hashes.push(h);
                }
            }
            put_value(blob, self.interner, &kv.value, !is_indexed);
        }
        if let Status::Error { message } = &rec.status
            && !message.is_empty()
        {
            put_str(blob, message);
        }
        if !rec.events.is_empty() {
            flags |= F_EVENTS;
            put_varint(blob, rec.events.len() as u64);
            for ev in &rec.events {
                let name = self.interner.intern(&ev.name);
                put_varint(blob, u64::from(name.0));
                put_varint(
                    blob,
                    zigzag(ev.time_unix_nano.wrapping_sub(rec.start_unix_nano) as i64),
                );
                put_attrs(blob, self.interner, &ev.attributes);
            }
        }
        if !rec.links.is_empty() {
            flags |= F_LINKS;
            put_varint(blob, rec.links.len() as u64);
            for link in &rec.links {
                blob.extend_from_slice(&link.trace_id.0);
                blob.extend_from_slice(&link.span_id.0);
                put_attrs(blob, self.interner, &link.attributes);
            }
        }
        let service = self.interner.intern(&rec.service);
        let mut resource = u32::MAX;
        let cached = self
            .resources
            .last
            .get(&service)
            .filter(|(attrs, _)| *attrs == rec.resource)
            .map(|(_, id)| *id);
        if let Some(id) = cached {
            resource = id;
        } else if !rec.resource.is_empty() {
            self.scratch.clear();
            put_attrs(self.scratch, self.interner, &rec.resource);
            match self.resources.id_for(self.scratch) {
                Some(id) => {
                    resource = id;
                    self.resources
                        .last
                        .insert(service, (rec.resource.clone(), id));
                }
                None => {
                    flags |= F_INLINE_RESOURCE;
                    blob.extend_from_slice(self.scratch);
                }
            }
        }

        Head {
            trace: rec.trace_id,
            span: rec.span_id,
            parent: rec.parent_span_id.unwrap_or_default(),
            start: rec.start_unix_nano,
            end: rec.end_unix_nano,
            prev_in_trace: NO_SPAN,
            blob_off: off as u32,
            blob_len: (blob.len() - off) as u32,
            service,
            name: self.interner.intern(&rec.name),
            resource,
            kind: rec.kind,
            flags,
        }
    }
}

fn read_value<'a>(r: &mut Reader<'a>) -> Result<ValueRef<'a>, DecodeError> {
    Ok(match r.u8()? {
        T_STR => ValueRef::Str(r.str()?),
        T_SYM => ValueRef::Sym(Sym(r.u32v()?)),
        T_FALSE => ValueRef::Bool(false),
        T_TRUE => ValueRef::Bool(true),
        T_I64 => ValueRef::I64(unzigzag(r.varint()?)),
        T_F64 => ValueRef::F64(r.f64()?),
        t => return Err(DecodeError::BadTag(t)),
    })
}

fn read_attrs<'a>(
    r: &mut Reader<'a>,
    out: &mut Vec<(Sym, ValueRef<'a>)>,
) -> Result<(), DecodeError> {
    let n = r.len()?;
    for _ in 0..n {
        let key = Sym(r.u32v()?);
        out.push((key, read_value(r)?));
    }
    Ok(())
}

fn skip_attrs(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    let n = r.len()?;
    for _ in 0..n {
        r.varint()?;
        read_value(r)?;
    }
    Ok(())
}

fn owned_attrs(attrs: &[(Sym, ValueRef<'_>)], interner: &Interner) -> Vec<KeyValue> {
    attrs
        .iter()
        .map(|(k, v)| KeyValue {
            key: interner.resolve(*k).to_owned().into(),
            value: v.to_value(interner),
        })
        .collect()
}

/// The span attributes of a blob, borrowed.
pub(crate) fn attributes<'a>(blob: &'a [u8]) -> Result<Vec<(Sym, ValueRef<'a>)>, DecodeError> {
    let mut out = Vec::new();
    read_attrs(&mut Reader::new(blob), &mut out)?;
    Ok(out)
}

/// The value of span attribute `key`, if present.
pub(crate) fn attribute(blob: &[u8], key: Sym) -> Option<ValueRef<'_>> {
    let mut r = Reader::new(blob);
    let n = r.len().ok()?;
    for _ in 0..n {
        let k = Sym(r.u32v().ok()?);
        let v = read_value(&mut r).ok()?;
        if k == key {
            return Some(v);
        }
    }
    None
}

/// The links of a span (trace, span), without their attributes.
pub(crate) fn links(head: &Head, blob: &[u8]) -> Result<Vec<(TraceId, SpanId)>, DecodeError> {
    if head.flags & F_LINKS == 0 {
        return Ok(Vec::new());
    }
    let mut r = Reader::new(blob);
    skip_attrs(&mut r)?;
    if head.flags & F_STATUS_MSG != 0 {
        r.str()?;
    }
    if head.flags & F_EVENTS != 0 {
        let n = r.len()?;
        for _ in 0..n {
            r.varint()?;
            r.varint()?;
            skip_attrs(&mut r)?;
        }
    }
    let n = r.len()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = TraceId(r.array()?);
        let s = SpanId(r.array()?);
        skip_attrs(&mut r)?;
        out.push((t, s));
    }
    Ok(out)
}

/// Rebuilds the full record of a stored span.
pub(crate) fn decode(
    head: &Head,
    blob: &[u8],
    interner: &Interner,
    resources: &Resources,
) -> Result<SpanRecord, DecodeError> {
    let mut r = Reader::new(blob);
    let mut scratch = Vec::new();
    read_attrs(&mut r, &mut scratch)?;
    let attributes = owned_attrs(&scratch, interner);
    let status = if head.flags & F_STATUS_ERROR != 0 {
        let message = if head.flags & F_STATUS_MSG != 0 {
            r.str()?.to_owned()
        } else {
            String::new()
        };
        Status::Error { message }
    } else if head.flags & F_STATUS_OK != 0 {
        Status::Ok
    } else {
        Status::Unset
    };
    let mut events = Vec::new();
    if head.flags & F_EVENTS != 0 {
        let n = r.len()?;
        for _ in 0..n {
            let name = interner.resolve(Sym(r.u32v()?)).to_owned();
            let delta = unzigzag(r.varint()?);
            scratch.clear();
            read_attrs(&mut r, &mut scratch)?;
            events.push(Event {
                name,
                time_unix_nano: head.start.wrapping_add(delta as u64),
                attributes: owned_attrs(&scratch, interner),
            });
        }
    }
    let mut links = Vec::new();
    if head.flags & F_LINKS != 0 {
        let n = r.len()?;
        for _ in 0..n {
            let trace_id = TraceId(r.array()?);
            let span_id = SpanId(r.array()?);
            scratch.clear();
            read_attrs(&mut r, &mut scratch)?;
            links.push(Link {
                trace_id,
                span_id,
                attributes: owned_attrs(&scratch, interner),
            });
        }
    }
    scratch.clear();
    if head.flags & F_INLINE_RESOURCE != 0 {
        read_attrs(&mut r, &mut scratch)?;
    } else if let Some(bytes) = resources.list.get(head.resource as usize) {
        read_attrs(&mut Reader::new(bytes), &mut scratch)?;
    }
    let resource = owned_attrs(&scratch, interner);
    Ok(SpanRecord {
        trace_id: head.trace,
        span_id: head.span,
        parent_span_id: head.parent(),
        name: interner.resolve(head.name).to_owned(),
        kind: head.kind,
        service: interner.resolve(head.service).to_owned(),
        start_unix_nano: head.start,
        end_unix_nano: head.end,
        status,
        attributes,
        events,
        links,
        resource,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> SpanRecord {
        SpanRecord {
            trace_id: TraceId([7; 16]),
            span_id: SpanId([1; 8]),
            parent_span_id: Some(SpanId([2; 8])),
            name: "send orders".into(),
            kind: SpanKind::Producer,
            service: "website".into(),
            start_unix_nano: 1_000,
            end_unix_nano: 5_000,
            status: Status::Error {
                message: "boom".into(),
            },
            attributes: vec![
                KeyValue::new("messaging.system", "nats"),
                KeyValue::new("message.id", "m-1"),
                KeyValue::new("retries", 3i64),
                KeyValue::new("ratio", 0.5f64),
                KeyValue::new("ok", true),
            ],
            events: vec![Event {
                name: "exception".into(),
                time_unix_nano: 900,
                attributes: vec![KeyValue::new("exception.message", "x")],
            }],
            links: vec![Link {
                trace_id: TraceId([9; 16]),
                span_id: SpanId([3; 8]),
                attributes: vec![KeyValue::new("link.kind", "reply")],
            }],
            resource: vec![KeyValue::new("host.name", "h1")],
        }
    }

    #[test]
    fn random_records_round_trip() {
        let mut interner = Interner::new(50);
        let mut resources = Resources::default();
        let mid = interner.intern("message.id");
        let mut indexed = vec![false; mid.0 as usize + 1];
        indexed[mid.0 as usize] = true;
        let mut scratch = Vec::new();
        let mut blob = Vec::new();
        let mut g = crate::testgen::Gen::new(11);
        let mut stored = Vec::new();
        for _ in 0..2_000 {
            let rec = g.record();
            let mut hashes = Vec::new();
            let head = Encoder {
                interner: &mut interner,
                resources: &mut resources,
                indexed: &indexed,
                scratch: &mut scratch,
            }
            .encode(&rec, &mut blob, &mut hashes);
            let carried = rec.attributes.iter().filter(|kv| kv.key == "message.id");
            for kv in carried {
                assert!(hashes.contains(&hash_text(&kv.value.to_text())));
            }
            stored.push((rec, head));
        }
        // Decoded after everything was interned and appended: offsets and symbols hold.
        for (rec, head) in &stored {
            let b = &blob[head.blob_off as usize..][..head.blob_len as usize];
            assert_eq!(&decode(head, b, &interner, &resources).unwrap(), rec);
            let want: Vec<_> = rec.links.iter().map(|l| (l.trace_id, l.span_id)).collect();
            assert_eq!(links(head, b).unwrap(), want);
        }
    }

    #[test]
    fn encode_decode_round_trip() {
        let mut interner = Interner::new(100);
        let mut resources = Resources::default();
        let mid = interner.intern("message.id");
        let mut indexed = vec![false; 16];
        indexed[mid.0 as usize] = true;
        let mut scratch = Vec::new();
        let mut blob = vec![0xEE]; // something before, offsets must be honoured
        let mut hashes = Vec::new();
        let rec = sample();
        let head = Encoder {
            interner: &mut interner,
            resources: &mut resources,
            indexed: &indexed,
            scratch: &mut scratch,
        }
        .encode(&rec, &mut blob, &mut hashes);
        assert_eq!(hashes, vec![hash_text("m-1")]);
        let b = &blob[head.blob_off as usize..][..head.blob_len as usize];
        let back = decode(&head, b, &interner, &resources).unwrap();
        assert_eq!(back, rec);
        assert_eq!(
            links(&head, b).unwrap(),
            vec![(TraceId([9; 16]), SpanId([3; 8]))]
        );
        let ok = interner.lookup("ok").unwrap();
        assert_eq!(attribute(b, ok), Some(ValueRef::Bool(true)));
        // The indexed value is stored inline, never interned.
        assert_eq!(interner.lookup("m-1"), None);
        assert!(interner.lookup("nats").is_some());
        assert_eq!(std::mem::size_of::<Head>(), 80);
    }
}

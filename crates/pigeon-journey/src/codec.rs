//! The on-disk encoding of one span: self-contained (full strings, no symbols, because the
//! symbol table is rebuilt on replay) and framed as `len: u32 LE · crc32(payload): u32 LE ·
//! payload`, so replay can tell a torn or corrupted tail from a good record and stop there.
//!
//! Payload: version byte `1`, then the fields of [`SpanRecord`] in declaration order with
//! varint lengths and counts.

use crate::id::{SpanId, TraceId};
use crate::record::{AttrValue, Event, KeyValue, Link, SpanKind, SpanRecord, Status};
use crate::wire::{DecodeError, Reader, put_str, put_varint, unzigzag, zigzag};

const VERSION: u8 = 1;
/// Bytes before the payload.
pub(crate) const FRAME_HEADER: usize = 8;
/// Frames claiming more than this are corrupt (a span is never near 64 MiB).
const MAX_FRAME: usize = 64 << 20;

fn put_attrs(out: &mut Vec<u8>, attrs: &[KeyValue]) {
    put_varint(out, attrs.len() as u64);
    for kv in attrs {
        put_str(out, &kv.key);
        match &kv.value {
            AttrValue::Str(s) => {
                out.push(0);
                put_str(out, s);
            }
            AttrValue::Bool(b) => out.push(if *b { 2 } else { 1 }),
            AttrValue::I64(i) => {
                out.push(3);
                put_varint(out, zigzag(*i));
            }
            AttrValue::F64(f) => {
                out.push(4);
                out.extend_from_slice(&f.to_le_bytes());
            }
        }
    }
}

fn read_attrs(r: &mut Reader<'_>) -> Result<Vec<KeyValue>, DecodeError> {
    let n = r.len()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let key = r.str()?.to_owned().into();
        let value = match r.u8()? {
            0 => AttrValue::Str(r.str()?.to_owned()),
            1 => AttrValue::Bool(false),
            2 => AttrValue::Bool(true),
            3 => AttrValue::I64(unzigzag(r.varint()?)),
            4 => AttrValue::F64(r.f64()?),
            t => return Err(DecodeError::BadTag(t)),
        };
        out.push(KeyValue { key, value });
    }
    Ok(out)
}

/// Appends one framed record to `out`.
pub(crate) fn encode_frame(rec: &SpanRecord, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER]);
    let p = out.len();
    out.push(VERSION);
    out.extend_from_slice(&rec.trace_id.0);
    out.extend_from_slice(&rec.span_id.0);
    match rec.parent_span_id {
        Some(p) => {
            out.push(1);
            out.extend_from_slice(&p.0);
        }
        None => out.push(0),
    }
    put_str(out, &rec.name);
    out.push(rec.kind.to_u8());
    put_str(out, &rec.service);
    put_varint(out, rec.start_unix_nano);
    put_varint(out, rec.end_unix_nano);
    match &rec.status {
        Status::Unset => out.push(0),
        Status::Ok => out.push(1),
        Status::Error { message } => {
            out.push(2);
            put_str(out, message);
        }
    }
    put_attrs(out, &rec.attributes);
    put_varint(out, rec.events.len() as u64);
    for ev in &rec.events {
        put_str(out, &ev.name);
        put_varint(out, ev.time_unix_nano);
        put_attrs(out, &ev.attributes);
    }
    put_varint(out, rec.links.len() as u64);
    for l in &rec.links {
        out.extend_from_slice(&l.trace_id.0);
        out.extend_from_slice(&l.span_id.0);
        put_attrs(out, &l.attributes);
    }
    put_attrs(out, &rec.resource);
    let payload = &out[p..];
    let len = (payload.len() as u32).to_le_bytes();
    let crc = crc32fast::hash(payload).to_le_bytes();
    out[start..start + 4].copy_from_slice(&len);
    out[start + 4..start + 8].copy_from_slice(&crc);
}

fn decode_payload(payload: &[u8]) -> Result<SpanRecord, DecodeError> {
    let mut r = Reader::new(payload);
    let v = r.u8()?;
    if v != VERSION {
        return Err(DecodeError::BadTag(v));
    }
    let trace_id = TraceId(r.array()?);
    let span_id = SpanId(r.array()?);
    let parent_span_id = match r.u8()? {
        0 => None,
        1 => Some(SpanId(r.array()?)),
        t => return Err(DecodeError::BadTag(t)),
    };
    let name = r.str()?.to_owned();
    let k = r.u8()?;
    let kind = SpanKind::from_u8(k).ok_or(DecodeError::BadTag(k))?;
    let service = r.str()?.to_owned();
    let start_unix_nano = r.varint()?;
    let end_unix_nano = r.varint()?;
    let status = match r.u8()? {
        0 => Status::Unset,
        1 => Status::Ok,
        2 => Status::Error {
            message: r.str()?.to_owned(),
        },
        t => return Err(DecodeError::BadTag(t)),
    };
    let attributes = read_attrs(&mut r)?;
    let n = r.len()?;
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        events.push(Event {
            name: r.str()?.to_owned(),
            time_unix_nano: r.varint()?,
            attributes: read_attrs(&mut r)?,
        });
    }
    let n = r.len()?;
    let mut links = Vec::with_capacity(n);
    for _ in 0..n {
        links.push(Link {
            trace_id: TraceId(r.array()?),
            span_id: SpanId(r.array()?),
            attributes: read_attrs(&mut r)?,
        });
    }
    let resource = read_attrs(&mut r)?;
    Ok(SpanRecord {
        trace_id,
        span_id,
        parent_span_id,
        name,
        kind,
        service,
        start_unix_nano,
        end_unix_nano,
        status,
        attributes,
        events,
        links,
        resource,
    })
}

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
    /// The buffer ends inside the frame: a torn write.
    #[error("frame is cut short")]
    Torn,
    /// The checksum does not match.
    #[error("checksum mismatch")]
    Crc,
    /// The length is implausible or the payload does not parse.
    #[error("corrupt frame: {0}")]
    Corrupt(String),
}

/// Reads the frame at the start of `buf`: the record and the frame's total length.
pub(crate) fn decode_frame(buf: &[u8]) -> Result<(SpanRecord, usize), FrameError> {
    if buf.len() < FRAME_HEADER {
        return Err(FrameError::Torn);
    }
    let mut word = [0u8; 4];
    word.copy_from_slice(&buf[..4]);
    let len = u32::from_le_bytes(word) as usize;
    word.copy_from_slice(&buf[4..8]);
    let crc = u32::from_le_bytes(word);
    if len > MAX_FRAME {
        return Err(FrameError::Corrupt(format!("length {len}")));
    }
    let Some(payload) = buf.get(FRAME_HEADER..FRAME_HEADER + len) else {
        return Err(FrameError::Torn);
    };
    if crc32fast::hash(payload) != crc {
        return Err(FrameError::Crc);
    }
    let rec = decode_payload(payload).map_err(|e| FrameError::Corrupt(e.to_string()))?;
    Ok((rec, FRAME_HEADER + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> SpanRecord {
        SpanRecord {
            trace_id: TraceId([3; 16]),
            span_id: SpanId([4; 8]),
            parent_span_id: None,
            name: "persist-message".into(),
            kind: SpanKind::Consumer,
            service: "persister".into(),
            start_unix_nano: 10,
            end_unix_nano: 20,
            status: Status::Error {
                message: "disk full".into(),
            },
            attributes: vec![
                KeyValue::new("CorrelationId", "c-1"),
                KeyValue::new("n", -5i64),
                KeyValue::new("f", 1.5f64),
                KeyValue::new("b", false),
            ],
            events: vec![Event {
                name: "retry".into(),
                time_unix_nano: 15,
                attributes: vec![],
            }],
            links: vec![Link {
                trace_id: TraceId([5; 16]),
                span_id: SpanId([6; 8]),
                attributes: vec![KeyValue::new("k", true)],
            }],
            resource: vec![KeyValue::new("host.name", "box")],
        }
    }

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        encode_frame(&rec(), &mut buf);
        let mut r2 = rec();
        r2.parent_span_id = Some(SpanId([1; 8]));
        r2.status = Status::Ok;
        encode_frame(&r2, &mut buf);
        let (a, n) = decode_frame(&buf).unwrap();
        assert_eq!(a, rec());
        let (b, m) = decode_frame(&buf[n..]).unwrap();
        assert_eq!(b, r2);
        assert_eq!(n + m, buf.len());
    }

    #[test]
    fn random_records_round_trip_and_damage_never_panics() {
        let mut g = crate::testgen::Gen::new(7);
        for _ in 0..2_000 {
            let rec = g.record();
            let mut buf = Vec::new();
            encode_frame(&rec, &mut buf);
            let (back, n) = decode_frame(&buf).unwrap();
            assert_eq!(back, rec);
            assert_eq!(n, buf.len());
            // Any cut is torn; any single flipped bit is caught (CRC) or rejected.
            let cut = g.below(buf.len() as u64) as usize;
            assert_eq!(decode_frame(&buf[..cut]).unwrap_err(), FrameError::Torn);
            let i = g.below(buf.len() as u64) as usize;
            buf[i] ^= 1 << g.below(8);
            assert!(decode_frame(&buf).is_err_and(|e| e != FrameError::Torn) || i < 4);
        }
    }

    #[test]
    fn torn_and_corrupt_frames_are_detected() {
        let mut buf = Vec::new();
        encode_frame(&rec(), &mut buf);
        for cut in [0, 3, FRAME_HEADER, buf.len() - 1] {
            assert_eq!(decode_frame(&buf[..cut]).unwrap_err(), FrameError::Torn);
        }
        let last = buf.len() - 1;
        buf[last] ^= 0xff;
        assert_eq!(decode_frame(&buf).unwrap_err(), FrameError::Crc);
    }
}

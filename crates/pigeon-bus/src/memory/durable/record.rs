//! The on-disk records of the durable log.
//!
//! Each record is `len: u32 LE | crc32(body): u32 LE | body`, body = `kind: u8` then fields.
//! Strings and byte strings are `u32 LE` length-prefixed. A record that is cut short or whose
//! checksum does not match ends the log: that is the torn tail of a write a crash interrupted,
//! and everything before it was committed.

use std::sync::Arc;

use bytes::Bytes;

use crate::{Envelope, Headers, MessageId, time_from_nanos};

const PUBLISH: u8 = 1;
const SETTLE: u8 = 2;
const GROUP: u8 = 3;

/// Largest record body read back; larger lengths are treated as corruption.
const MAX_BODY: usize = 64 << 20;

/// A decoded record.
#[derive(Debug)]
pub(crate) enum Record {
    /// A message was published.
    Publish(Envelope),
    /// A group settled (acked or termed) a message.
    Settle {
        topic: Arc<str>,
        group: Arc<str>,
        id: MessageId,
    },
    /// A group started consuming a topic.
    Group { topic: Arc<str>, group: Arc<str> },
}

/// Appends the encoding of a publish to `out`.
pub(crate) fn encode_publish(e: &Envelope, out: &mut Vec<u8>) {
    frame(out, |b| {
        b.push(PUBLISH);
        put_str(b, &e.topic);
        put_str(b, e.id.as_str());
        match &e.key {
            Some(k) => {
                b.push(1);
                put_str(b, k);
            }
            None => b.push(0),
        }
        b.extend_from_slice(&e.published_at_nanos().to_le_bytes());
        put_len(b, e.headers.len());
        for (k, v) in e.headers.iter() {
            put_str(b, k);
            put_str(b, v);
        }
        put_bytes(b, &e.payload);
    });
}

/// Appends the encoding of a settlement to `out`.
pub(crate) fn encode_settle(topic: &str, group: &str, id: &MessageId, out: &mut Vec<u8>) {
    frame(out, |b| {
        b.push(SETTLE);
        put_str(b, topic);
        put_str(b, group);
        put_str(b, id.as_str());
    });
}

/// Appends the encoding of a group's creation to `out`.
pub(crate) fn encode_group(topic: &str, group: &str, out: &mut Vec<u8>) {
    frame(out, |b| {
        b.push(GROUP);
        put_str(b, topic);
        put_str(b, group);
    });
}

fn frame(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 8]);
    body(out);
    let body_len = out.len() - start - 8;
    let crc = crc32fast::hash(&out[start + 8..]);
    let len = u32::try_from(body_len).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn put_len(b: &mut Vec<u8>, n: usize) {
    b.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    put_bytes(b, s.as_bytes());
}

fn put_bytes(b: &mut Vec<u8>, s: &[u8]) {
    put_len(b, s.len());
    b.extend_from_slice(s);
}

/// Decodes the record at the start of `buf`. Returns it and its encoded length, or `None` at a
/// torn or corrupt tail.
pub(crate) fn decode(buf: &[u8]) -> Option<(Record, usize)> {
    let len = usize::try_from(u32::from_le_bytes(buf.get(0..4)?.try_into().ok()?)).ok()?;
    let crc = u32::from_le_bytes(buf.get(4..8)?.try_into().ok()?);
    if len > MAX_BODY {
        return None;
    }
    let body = buf.get(8..8 + len)?;
    if crc32fast::hash(body) != crc {
        return None;
    }
    let mut r = Reader(body);
    let record = match r.u8()? {
        PUBLISH => {
            let topic: Arc<str> = r.str()?.into();
            let id = MessageId::from(r.str()?);
            let key = match r.u8()? {
                0 => None,
                _ => Some(Arc::from(r.str()?)),
            };
            let published_at = time_from_nanos(r.u64()?);
            let count = r.len()?;
            let mut headers = Headers::new();
            for _ in 0..count {
                let name = r.str()?;
                let value = r.str()?;
                headers.insert(name, value);
            }
            let payload = Bytes::copy_from_slice(r.bytes()?);
            Record::Publish(Envelope {
                id,
                topic,
                key,
                headers,
                payload,
                published_at,
                transient: false,
            })
        }
        SETTLE => Record::Settle {
            topic: r.str()?.into(),
            group: r.str()?.into(),
            id: MessageId::from(r.str()?),
        },
        GROUP => Record::Group {
            topic: r.str()?.into(),
            group: r.str()?.into(),
        },
        _ => return None,
    };
    Some((record, 8 + len))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn len(&mut self) -> Option<usize> {
        usize::try_from(u32::from_le_bytes(self.take(4)?.try_into().ok()?)).ok()
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }
    fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn envelope() -> Envelope {
        Envelope {
            id: MessageId::generate(),
            topic: "orders".into(),
            key: Some("k1".into()),
            headers: [("traceparent", "00-abc"), ("x", "y")]
                .into_iter()
                .collect(),
            payload: Bytes::from_static(b"\x00\x01payload"),
            published_at: time_from_nanos(crate::nanos_since_epoch(SystemTime::now())),
            transient: false,
        }
    }

    #[test]
    fn publish_round_trips() {
        let e = envelope();
        let mut buf = Vec::new();
        encode_publish(&e, &mut buf);
        let (Record::Publish(back), used) = decode(&buf).unwrap() else {
            panic!("wrong kind")
        };
        assert_eq!(used, buf.len());
        assert_eq!(back, e);
    }

    #[test]
    fn settle_and_group_round_trip() {
        let id = MessageId::from("m-1");
        let mut buf = Vec::new();
        encode_settle("t", "g", &id, &mut buf);
        encode_group("t", "g2", &mut buf);
        let (first, n) = decode(&buf).unwrap();
        assert!(matches!(first, Record::Settle { ref group, .. } if &**group == "g"));
        let (second, _) = decode(&buf[n..]).unwrap();
        assert!(matches!(second, Record::Group { ref group, .. } if &**group == "g2"));
    }

    #[test]
    fn torn_and_corrupt_tails_end_the_log() {
        let mut buf = Vec::new();
        encode_publish(&envelope(), &mut buf);
        for cut in 0..buf.len() {
            assert!(decode(&buf[..cut]).is_none(), "cut at {cut}");
        }
        let last = buf.len() - 1;
        buf[last] ^= 0xff;
        assert!(decode(&buf).is_none());
    }
}

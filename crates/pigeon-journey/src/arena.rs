//! The span arena: heads and blobs in fixed-size chunks, addressed by a global, stable,
//! ever-increasing span index (`u64`).
//!
//! Indices never move, so the indexes can hold plain `u64`s; eviction only ever removes the
//! oldest span, which just advances `first_live` and frees a whole chunk once every span in it
//! is gone — no compaction, no rewriting of index entries. Finding a span is a subtraction and
//! a division because every chunk but the newest is full.

use std::collections::VecDeque;

use crate::compact::Head;

/// Spans per chunk: small enough that a freed chunk returns memory promptly (~1.5 MiB),
/// large enough that the per-chunk overhead is nil.
pub(crate) const CHUNK_SPANS: usize = 8192;

#[derive(Debug)]
struct Chunk {
    heads: Vec<Head>,
    blob: Vec<u8>,
}

/// The arena.
#[derive(Debug, Default)]
pub(crate) struct Arena {
    chunks: VecDeque<Chunk>,
    /// Global index of `chunks[0].heads[0]`.
    base: u64,
    /// Oldest span not yet evicted.
    first_live: u64,
    /// Index the next pushed span gets.
    next: u64,
}

impl Arena {
    /// Appends a span: `encode` writes its blob at the end of the given buffer and returns
    /// the head. Returns the new span's index.
    pub(crate) fn push(&mut self, encode: impl FnOnce(&mut Vec<u8>) -> Head) -> u64 {
        let need_chunk = self
            .chunks
            .back()
            .is_none_or(|c| c.heads.len() == CHUNK_SPANS);
        if need_chunk {
            let blob_hint = match self.chunks.back_mut() {
                Some(full) => {
                    // Sealed: give back the growth slack of the blob.
                    full.blob.shrink_to_fit();
                    full.blob.len() + full.blob.len() / 16
                }
                None => CHUNK_SPANS * 128,
            };
            self.chunks.push_back(Chunk {
                heads: Vec::with_capacity(CHUNK_SPANS),
                blob: Vec::with_capacity(blob_hint),
            });
        }
        let Some(chunk) = self.chunks.back_mut() else {
            unreachable!("a chunk was just ensured")
        };
        let head = encode(&mut chunk.blob);
        chunk.heads.push(head);
        let idx = self.next;
        self.next += 1;
        idx
    }

    fn locate(&self, idx: u64) -> Option<(usize, usize)> {
        if idx < self.first_live || idx >= self.next {
            return None;
        }
        let rel = (idx - self.base) as usize;
        Some((rel / CHUNK_SPANS, rel % CHUNK_SPANS))
    }

    /// The head and blob of a live span.
    #[inline]
    pub(crate) fn get(&self, idx: u64) -> Option<(&Head, &[u8])> {
        let (c, i) = self.locate(idx)?;
        let chunk = self.chunks.get(c)?;
        let head = chunk.heads.get(i)?;
        let blob = chunk
            .blob
            .get(head.blob_off as usize..(head.blob_off + head.blob_len) as usize)?;
        Some((head, blob))
    }

    /// The head of a live span.
    #[inline]
    pub(crate) fn head(&self, idx: u64) -> Option<&Head> {
        let (c, i) = self.locate(idx)?;
        self.chunks.get(c)?.heads.get(i)
    }

    /// Oldest live index.
    pub(crate) fn first_live(&self) -> u64 {
        self.first_live
    }

    /// One past the newest index.
    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    /// Live spans.
    pub(crate) fn len(&self) -> u64 {
        self.next - self.first_live
    }

    /// Forgets the oldest live span (the caller has already removed it from the indexes) and
    /// frees its chunk if it was the chunk's last live span.
    pub(crate) fn pop_front(&mut self) {
        if self.first_live >= self.next {
            return;
        }
        self.first_live += 1;
        let front_full = self
            .chunks
            .front()
            .is_some_and(|c| c.heads.len() == CHUNK_SPANS);
        if front_full && self.first_live - self.base >= CHUNK_SPANS as u64 {
            self.chunks.pop_front();
            self.base += CHUNK_SPANS as u64;
        } else if self.first_live == self.next {
            // Everything is gone: drop the partial chunk too and restart at `next`.
            self.chunks.clear();
            self.base = self.next;
        }
    }

    /// Heap bytes held (capacities, not lengths).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.chunks
            .iter()
            .map(|c| c.heads.capacity() * std::mem::size_of::<Head>() + c.blob.capacity())
            .sum::<usize>()
            + self.chunks.capacity() * std::mem::size_of::<Chunk>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compact::NO_SPAN;
    use crate::id::{SpanId, TraceId};
    use crate::intern::Sym;
    use crate::record::SpanKind;

    fn head(blob: &mut Vec<u8>, n: u64) -> Head {
        let off = blob.len() as u32;
        blob.extend_from_slice(&n.to_le_bytes());
        Head {
            trace: TraceId::default(),
            span: SpanId::default(),
            parent: SpanId::default(),
            start: n,
            end: n,
            prev_in_trace: NO_SPAN,
            blob_off: off,
            blob_len: 8,
            service: Sym(0),
            name: Sym(0),
            resource: 0,
            kind: SpanKind::Internal,
            flags: 0,
        }
    }

    #[test]
    fn indices_are_stable_across_eviction() {
        let mut a = Arena::default();
        let n = CHUNK_SPANS as u64 * 2 + 10;
        for i in 0..n {
            assert_eq!(a.push(|b| head(b, i)), i);
        }
        for i in 0..CHUNK_SPANS as u64 + 5 {
            assert_eq!(a.head(i).unwrap().start, i);
            a.pop_front();
            assert!(a.get(i).is_none());
        }
        assert_eq!(a.chunks.len(), 2);
        let (h, blob) = a.get(n - 1).unwrap();
        assert_eq!(h.start, n - 1);
        assert_eq!(blob, &(n - 1).to_le_bytes());
        assert_eq!(a.len(), n - CHUNK_SPANS as u64 - 5);
        while a.len() > 0 {
            a.pop_front();
        }
        assert_eq!(a.chunks.len(), 0);
        assert_eq!(a.push(|b| head(b, 7)), n);
        assert_eq!(a.head(n).unwrap().start, 7);
    }
}

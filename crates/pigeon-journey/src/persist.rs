//! Optional durability: every span accepted into the store is appended to a segment file in
//! the data dir, and the segments are replayed at open, so a restarted server keeps its
//! history.
//!
//! Segments are append-only files named by a sequence number (`0000000042.seg`) holding
//! framed records (see `codec`). Each segment remembers the span indices it holds; once
//! retention has evicted all of them the file is deleted, so disk use follows the in-memory
//! retention. A crash can leave a torn record at the end of the newest segment: replay stops
//! reading that file at the first bad frame and truncates it there, and new spans go to a new
//! segment. Writes are flushed to the OS after each drain; there is no fsync, so a power loss
//! may lose the last drain's spans but never corrupts what replay accepts (CRC per record).

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::codec::{decode_frame, encode_frame};
use crate::error::{OpenError, PersistError};
use crate::record::SpanRecord;

const EXT: &str = "seg";

#[derive(Debug)]
struct Segment {
    number: u64,
    path: PathBuf,
    /// Highest span index in the file (`None` while empty).
    last: Option<u64>,
}

/// The writer side of the data dir.
#[derive(Debug)]
pub(crate) struct Persister {
    dir: PathBuf,
    segments: VecDeque<Segment>,
    /// Writer for the newest segment, if one is open for appending.
    writer: Option<BufWriter<File>>,
    written: u64,
    segment_bytes: u64,
    next_number: u64,
    buf: Vec<u8>,
}

/// What replay found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReplayStats {
    pub(crate) spans: u64,
    /// Bytes cut off torn or corrupt tails.
    pub(crate) truncated_bytes: u64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OpenError + '_ {
    move |source| OpenError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Persister {
    /// Opens (creating) `dir` and replays every segment in order through `insert`, which
    /// stores the span and returns its index.
    pub(crate) fn open(
        dir: &Path,
        segment_bytes: u64,
        mut insert: impl FnMut(SpanRecord) -> u64,
    ) -> Result<(Self, ReplayStats), OpenError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let mut numbered = Vec::new();
        for entry in fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some(EXT) {
                continue;
            }
            if let Some(n) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u64>().ok())
            {
                numbered.push((n, path));
            }
        }
        numbered.sort();
        let mut stats = ReplayStats::default();
        let mut segments = VecDeque::new();
        for (number, path) in numbered {
            let bytes = fs::read(&path).map_err(io(&path))?;
            let mut pos = 0;
            let mut last = None;
            while pos < bytes.len() {
                match decode_frame(&bytes[pos..]) {
                    Ok((rec, n)) => {
                        last = Some(insert(rec));
                        stats.spans += 1;
                        pos += n;
                    }
                    Err(_) => break,
                }
            }
            if pos < bytes.len() {
                stats.truncated_bytes += (bytes.len() - pos) as u64;
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io(&path))?;
                f.set_len(pos as u64).map_err(io(&path))?;
            }
            if last.is_none() {
                fs::remove_file(&path).map_err(io(&path))?;
                continue;
            }
            segments.push_back(Segment { number, path, last });
        }
        let next_number = segments.back().map_or(0, |s| s.number + 1);
        Ok((
            Self {
                dir: dir.to_owned(),
                segments,
                writer: None,
                written: 0,
                segment_bytes,
                next_number,
                buf: Vec::with_capacity(64 << 10),
            },
            stats,
        ))
    }

    fn rotate(&mut self) -> Result<(), PersistError> {
        self.flush()?;
        let number = self.next_number;
        self.next_number += 1;
        let path = self.dir.join(format!("{number:010}.{EXT}"));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| PersistError {
                path: path.clone(),
                source,
            })?;
        self.writer = Some(BufWriter::with_capacity(256 << 10, file));
        self.written = 0;
        self.segments.push_back(Segment {
            number,
            path,
            last: None,
        });
        Ok(())
    }

    /// Appends span `idx` (buffered; see [`Persister::flush`]).
    pub(crate) fn append(&mut self, rec: &SpanRecord, idx: u64) -> Result<(), PersistError> {
        if self.writer.is_none() || self.written >= self.segment_bytes {
            self.rotate()?;
        }
        self.buf.clear();
        encode_frame(rec, &mut self.buf);
        let (Some(w), Some(seg)) = (self.writer.as_mut(), self.segments.back_mut()) else {
            unreachable!("rotate opened a writer and a segment")
        };
        if let Err(source) = w.write_all(&self.buf) {
            // The file may now end in a partial frame: never append after it (replay would
            // stop there); the next append starts a new segment.
            self.writer = None;
            return Err(PersistError {
                path: seg.path.clone(),
                source,
            });
        }
        self.written += self.buf.len() as u64;
        seg.last = Some(idx);
        Ok(())
    }

    /// Hands buffered bytes to the OS.
    pub(crate) fn flush(&mut self) -> Result<(), PersistError> {
        if let (Some(w), Some(seg)) = (self.writer.as_mut(), self.segments.back()) {
            w.flush().map_err(|source| PersistError {
                path: seg.path.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// Deletes segments whose spans all have indices below `first_live`.
    pub(crate) fn evict_before(&mut self, first_live: u64) -> Result<(), PersistError> {
        while let Some(seg) = self.segments.front() {
            let dead = seg.last.is_none_or(|last| last < first_live);
            if !dead || (seg.last.is_none() && self.segments.len() == 1) {
                break;
            }
            if self.segments.len() == 1 {
                // The segment being written: close it first.
                self.writer = None;
            }
            if let Some(seg) = self.segments.pop_front() {
                fs::remove_file(&seg.path).map_err(|source| PersistError {
                    path: seg.path.clone(),
                    source,
                })?;
            }
        }
        Ok(())
    }

    /// Number of segment files.
    #[cfg(test)]
    pub(crate) fn segment_count(&self) -> usize {
        self.segments.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{SpanId, TraceId};

    fn span(i: u8) -> SpanRecord {
        SpanRecord {
            trace_id: TraceId([i; 16]),
            span_id: SpanId([i; 8]),
            name: format!("span {i}"),
            service: "svc".into(),
            ..SpanRecord::default()
        }
    }

    #[test]
    fn rotates_replays_and_deletes_dead_segments() {
        let dir = tempfile::tempdir().unwrap();
        let (mut p, stats) = Persister::open(dir.path(), 100, |_| 0).unwrap();
        assert_eq!(stats.spans, 0);
        for i in 0..10u8 {
            p.append(&span(i), u64::from(i)).unwrap();
        }
        p.flush().unwrap();
        let segs = p.segment_count();
        assert!(segs > 1, "small segment size forces rotation");
        drop(p);

        let mut seen = Vec::new();
        let (mut p, stats) = Persister::open(dir.path(), 100, |r| {
            seen.push(r.name.clone());
            seen.len() as u64 - 1
        })
        .unwrap();
        assert_eq!(stats.spans, 10);
        assert_eq!(seen.len(), 10);
        assert_eq!(seen[9], "span 9");
        p.evict_before(10).unwrap();
        assert_eq!(p.segment_count(), 0);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}

//! `messages.jsonl`: one JSON line per mark, on disk before the ack, never twice.
//!
//! The persister acks a message only after its line is written and `fsync`ed, so a crash loses
//! nothing that was acked; the bus redelivers what was not. Redeliveries (and a processor that
//! published the same mark twice) must not write a second line, so the file remembers the ids it
//! holds: read back at open, added after each durable write. A write that fails part-way is
//! cut back off the file before the error is returned, and a torn last line left by a crash is
//! cut off at open, so every line in the file is whole and the retry writes the line once.
//!
//! Blocking I/O: call it from a blocking thread (`spawn_blocking`).

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What [`JsonlFile::append`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// The line is now on disk.
    Written,
    /// A line with this id was already there; nothing was written.
    Duplicate,
}

/// The append-only messages file. See the module docs.
#[derive(Debug)]
pub struct JsonlFile {
    path: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Open for appending; dropped after a failure, so the next write opens the path afresh.
    file: Option<File>,
    written: HashSet<String>,
}

impl JsonlFile {
    /// Opens (or will create) the file at `path`, remembering the ids of the lines it holds and
    /// cutting off a torn last line. A path that is not a regular file (say `/dev/full`) is
    /// opened as is, with nothing to read back.
    pub fn open(path: impl Into<PathBuf>) -> io::Result<Self> {
        let path = path.into();
        let written = match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => read_ids(&path)?,
            Ok(_) => HashSet::new(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => HashSet::new(),
            Err(e) => return Err(e),
        };
        Ok(Self {
            path,
            state: Mutex::new(State {
                file: None,
                written,
            }),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many distinct ids the file holds.
    pub fn len(&self) -> usize {
        self.lock().written.len()
    }

    /// True when the file holds no line.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `line` (one JSON document, no newline) for mark `id`, then syncs it to disk;
    /// does nothing when `id` is already in the file. On error nothing of the line remains.
    pub fn append(&self, id: &str, line: &str) -> io::Result<Appended> {
        let mut state = self.lock();
        if state.written.contains(id) {
            return Ok(Appended::Duplicate);
        }
        let file = match &mut state.file {
            Some(file) => file,
            slot @ None => slot.insert(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?,
            ),
        };
        let before = file.metadata().map(|m| m.len()).ok();
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        let result = file.write_all(&bytes).and_then(|()| file.sync_data());
        if let Err(error) = result {
            // Cut back what part of the line got in, so the retry leaves one whole line; a
            // device such as /dev/full has no length to restore.
            if let Some(len) = before.filter(|_| file.metadata().is_ok_and(|m| m.is_file())) {
                let _ = file.set_len(len);
            }
            state.file = None;
            return Err(error);
        }
        state.written.insert(id.to_owned());
        Ok(Appended::Written)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state consistent (the set changes only
        // after a durable write), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The ids of the whole lines in `path`; a torn last line (no newline) is cut off the file.
fn read_ids(path: &Path) -> io::Result<HashSet<String>> {
    let mut ids = HashSet::new();
    let mut reader = BufReader::new(File::open(path)?);
    let mut whole_bytes = 0u64;
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line)?;
        if n == 0 {
            break;
        }
        if !line.ends_with('\n') {
            let file = OpenOptions::new().write(true).open(path)?;
            file.set_len(whole_bytes)?;
            file.sync_all()?;
            tracing::warn!(path = %path.display(), bytes = n, "cut off a torn last line");
            break;
        }
        whole_bytes += n as u64;
        if let Some(id) = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_owned))
        {
            ids.insert(id);
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn writes_each_id_once_across_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("messages.jsonl");
        let file = JsonlFile::open(&path).unwrap();
        assert_eq!(
            file.append("a", r#"{"id":"a"}"#).unwrap(),
            Appended::Written
        );
        assert_eq!(
            file.append("a", r#"{"id":"a"}"#).unwrap(),
            Appended::Duplicate
        );
        assert_eq!(
            file.append("b", r#"{"id":"b"}"#).unwrap(),
            Appended::Written
        );
        drop(file);
        let file = JsonlFile::open(&path).unwrap();
        assert_eq!(file.len(), 2);
        assert_eq!(
            file.append("b", r#"{"id":"b"}"#).unwrap(),
            Appended::Duplicate
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"id\":\"a\"}\n{\"id\":\"b\"}\n");
    }

    #[test]
    fn a_torn_last_line_is_cut_off_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("messages.jsonl");
        std::fs::write(&path, "{\"id\":\"a\"}\n{\"id\":\"b\",\"te").unwrap();
        let file = JsonlFile::open(&path).unwrap();
        assert_eq!(file.len(), 1);
        assert_eq!(
            file.append("b", r#"{"id":"b"}"#).unwrap(),
            Appended::Written
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"id\":\"a\"}\n{\"id\":\"b\"}\n");
    }

    #[test]
    fn a_full_disk_fails_the_write_and_remembers_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("messages.jsonl");
        std::os::unix::fs::symlink("/dev/full", &path).unwrap();
        let file = JsonlFile::open(&path).unwrap();
        let error = file.append("a", r#"{"id":"a"}"#).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(28), "ENOSPC: {error}");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            file.append("a", r#"{"id":"a"}"#).unwrap(),
            Appended::Written
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"id\":\"a\"}\n");
    }
}

//! Rebuilds topics from the durable log at open, and cuts off a torn tail.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io;
use std::path::Path;
use std::sync::Arc;

use super::record::{self, Record};
use crate::MessageId;
use crate::memory::Topics;

/// Replays `path` into `topics`; returns the length of the valid prefix (the file is truncated
/// to it).
pub(super) fn replay(path: &Path, topics: &Topics) -> io::Result<u64> {
    let data = match std::fs::read(path) {
        Ok(data) => data,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut offsets: HashMap<(Arc<str>, MessageId), u64> = HashMap::new();
    let mut pos = 0usize;
    let mut records = 0u64;
    while let Some((rec, used)) = record::decode(&data[pos..]) {
        pos += used;
        records += 1;
        match rec {
            Record::Publish(envelope) => {
                let topic = topics.get_or_create(&envelope.topic);
                let state = topic.lock();
                let offset = state.base + state.log.len() as u64;
                offsets.insert((envelope.topic.clone(), envelope.id.clone()), offset);
                drop(state);
                topic.append_unchecked(Arc::new(envelope));
            }
            Record::Group { topic, group } => {
                topics.get_or_create(&topic).join(&group);
            }
            Record::Settle { topic, group, id } => {
                if let Some(&offset) = offsets.get(&(topic.clone(), id)) {
                    topics.get_or_create(&topic).replay_settle(&group, offset);
                }
            }
        }
    }
    if pos < data.len() {
        tracing::warn!(path = %path.display(), valid = pos, total = data.len(), "bus log ends in a torn or corrupt record; cutting it off");
        OpenOptions::new()
            .write(true)
            .open(path)?
            .set_len(pos as u64)?;
    }
    for (_, topic) in topics.all() {
        topic.lock().finish_replay();
    }
    tracing::info!(path = %path.display(), records, "bus log replayed");
    Ok(pos as u64)
}

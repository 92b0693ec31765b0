//! The kitchen's ready log: one JSON line per finished order, with the trace id, so a test (or an
//! operator) running the services as separate processes can check every order's journey.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::Order;

/// One line of the ready log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyRecord {
    /// The order.
    pub order_id: uuid::Uuid,
    /// The trace that carried it, as 32 hex digits.
    pub trace_id: String,
    /// Its dish.
    pub dish: String,
    /// Where it was placed.
    pub source: crate::Source,
}

/// An append-only file of [`ReadyRecord`]s.
#[derive(Debug)]
pub(crate) struct ReadyLog {
    // A std mutex: each write is one short `write_all` of a line, never held across `.await`.
    file: Mutex<File>,
}

impl ReadyLog {
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            file: Mutex::new(file),
        })
    }

    /// Appends the record of `order`, ready in trace `trace_id`.
    pub(crate) fn append(&self, order: &Order, trace_id: String) -> std::io::Result<()> {
        let record = ReadyRecord {
            order_id: order.order_id,
            trace_id,
            dish: order.dish.clone(),
            source: order.source,
        };
        let mut line = serde_json::to_vec(&record)?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(&line)?;
        file.flush()
    }
}

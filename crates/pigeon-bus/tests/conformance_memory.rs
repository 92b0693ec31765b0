//! The conformance suite against the in-process backend: in memory, and durable on disk.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use futures::future::BoxFuture;
use pigeon_bus::conformance::Harness;
use pigeon_bus::{Backend, MemoryBackend, MemoryConfig};

/// Every `open` returns the same in-memory backend: nothing survives a real restart.
struct InMemory(MemoryBackend);

impl Harness for InMemory {
    fn open(&self) -> BoxFuture<'_, Arc<dyn Backend>> {
        Box::pin(async move { Arc::new(self.0.clone()) as Arc<dyn Backend> })
    }

    fn durable(&self) -> bool {
        false
    }
}

/// Every `open` replays the durable log in one directory, like a restarted process.
struct OnDisk(tempfile::TempDir);

impl Harness for OnDisk {
    fn open(&self) -> BoxFuture<'_, Arc<dyn Backend>> {
        Box::pin(async move {
            let config = MemoryConfig {
                data_dir: Some(self.0.path().to_owned()),
                ..MemoryConfig::default()
            };
            Arc::new(MemoryBackend::open(config).unwrap()) as Arc<dyn Backend>
        })
    }

    fn durable(&self) -> bool {
        true
    }
}

mod in_memory {
    use super::*;
    pigeon_bus::conformance_tests!(InMemory(MemoryBackend::new()));
}

mod on_disk {
    use super::*;
    pigeon_bus::conformance_tests!(OnDisk(tempfile::tempdir().unwrap()), durable);
}

//! The storage conformance suite against SQLite on real files in a temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use pigeon_store::conformance::Harness;
use pigeon_store::{SqliteStore, Store};

struct Sqlite {
    dir: tempfile::TempDir,
}

impl Sqlite {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
}

impl Harness for Sqlite {
    fn open(&self) -> BoxFuture<'_, Arc<dyn Store>> {
        async move {
            let store = SqliteStore::open(self.dir.path().join("pigeon.db"))
                .await
                .unwrap();
            Arc::new(store) as Arc<dyn Store>
        }
        .boxed()
    }
}

pigeon_store::store_conformance_tests!(Sqlite::new());

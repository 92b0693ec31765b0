//! The storage conformance suite against a real PostgreSQL: the same cases the SQLite store
//! passes, so the server behaves the same on either.
//!
//! Each case gets a schema of its own (dropped afterwards), and every `open` connects a new
//! store to it, like a restarted process, so the restart case sees what was committed before.
//! Without a database the cases skip (outside CI) or fail (with `CI=true`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use futures::future::BoxFuture;
use pigeon_store::Store;
use pigeon_store::conformance::Harness;
use pigeon_store_postgres::PostgresStore;
use support::TestSchema;

struct Postgres {
    schema: TestSchema,
}

impl Postgres {
    /// The harness, or `None` to skip when there is no database outside CI.
    async fn available() -> Option<Self> {
        TestSchema::new().await.map(|schema| Self { schema })
    }
}

impl Harness for Postgres {
    fn open(&self) -> BoxFuture<'_, Arc<dyn Store>> {
        Box::pin(async move {
            let store = PostgresStore::connect_with(self.schema.config())
                .await
                .expect("connect to PostgreSQL");
            Arc::new(store) as Arc<dyn Store>
        })
    }
}

pigeon_store::store_conformance_tests!(match Postgres::available().await {
    Some(harness) => harness,
    None => return,
});

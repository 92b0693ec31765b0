//! What a node shares with the other nodes of its cluster: the DM store (SQLite for one node,
//! PostgreSQL for several) and the session directory (in process with the memory bus, NATS KV
//! with `--bus nats://…`), so a delivery reaches the node holding the device's WebSocket.

use std::sync::Arc;

use anyhow::Context as _;
use pigeon_cluster::{ClusterConfig, NatsDirectory};
use pigeon_dm::{LocalDirectory, SessionDirectory};
use pigeon_store::{SqliteStore, Store};
use pigeon_store_postgres::{PostgresConfig, PostgresStore};

use super::config::{ServeConfig, StoreTarget};

/// The DM store the configuration names.
pub(super) async fn open_store(config: &ServeConfig) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match &config.store {
        StoreTarget::Sqlite => Arc::new(
            SqliteStore::open(config.data_dir.join("dm.sqlite"))
                .await
                .context("opening the DM store")?,
        ),
        StoreTarget::Postgres { url, schema } => {
            let mut pg = PostgresConfig::new(url.clone());
            pg.schema.clone_from(schema);
            Arc::new(
                PostgresStore::connect_with(pg)
                    .await
                    .context("connecting to the PostgreSQL DM store")?,
            )
        }
    })
}

/// The session directory: shared over NATS KV when the bus is NATS (returned a second time so
/// shutdown can withdraw the node's heartbeat), in process otherwise.
pub(super) async fn open_directory(
    config: &ServeConfig,
    nats: Option<async_nats::Client>,
) -> anyhow::Result<(Arc<dyn SessionDirectory>, Option<Arc<NatsDirectory>>)> {
    let node = config.dm.node_id.clone();
    let Some(client) = nats else {
        return Ok((Arc::new(LocalDirectory::new(node)), None));
    };
    let directory = Arc::new(
        NatsDirectory::start(client, ClusterConfig::new(config.cluster.clone(), node))
            .await
            .context("starting the NATS session directory")?,
    );
    Ok((directory.clone(), Some(directory)))
}

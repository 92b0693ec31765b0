//! `pigeon serve` configuration: flags, then environment, then a TOML file, then defaults.
//!
//! clap resolves flag-or-env for each setting; what neither gives comes from the file named by
//! `--config` / `PIGEON_CONFIG` (unknown keys are refused, so a typo never passes silently),
//! and what the file does not give has a documented default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use serde::Deserialize;

/// Default address of the HTTP + WebSocket listener.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:7878";
/// Default data directory.
pub(crate) const DEFAULT_DATA_DIR: &str = "pigeon-data";

/// Options of `pigeon serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// TOML file with any of the settings below (as `listen`, `data_dir`, `bus`); flags and
    /// environment variables win over it.
    #[arg(long, env = "PIGEON_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on for HTTP and WebSocket [default: 127.0.0.1:7878]
    #[arg(long, env = "PIGEON_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Where Pigeon keeps its data (the durable bus log, …) [default: ./pigeon-data]
    #[arg(long, env = "PIGEON_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The bus: `memory` (in-process, durable in the data dir) or `nats://HOST:PORT`
    /// (NATS JetStream) [default: memory]
    #[arg(long, env = "PIGEON_BUS", value_name = "URL")]
    bus: Option<String>,
    /// Sends one device may make per second, sustained [default: 50]
    #[arg(long, env = "PIGEON_SENDS_PER_SECOND", value_name = "N")]
    sends_per_second: Option<f64>,
    /// Sends one device may make in a burst [default: 200]
    #[arg(long, env = "PIGEON_SEND_BURST", value_name = "N")]
    send_burst: Option<f64>,
    /// The DM store: `sqlite` (in the data dir) or `postgres://…` (PostgreSQL, shared by the
    /// nodes of a cluster) [default: sqlite]
    #[arg(long, env = "PIGEON_STORE", value_name = "URL")]
    store: Option<String>,
    /// PostgreSQL schema for Pigeon's tables (created if missing) [default: the connection's
    /// search_path]
    #[arg(long, env = "PIGEON_POSTGRES_SCHEMA", value_name = "NAME")]
    postgres_schema: Option<String>,
    /// This node's name in a cluster: letters, digits, `-`, `_` [default: the host name, or
    /// node-1]
    #[arg(long, env = "PIGEON_NODE_ID", value_name = "ID")]
    node_id: Option<String>,
    /// Cluster name: prefixes every DM bus topic, NATS stream and KV bucket, so several
    /// clusters share one NATS server. Nodes with the same `--bus nats://…` and `--cluster`
    /// route deliveries to each other [default: none]
    #[arg(long, env = "PIGEON_CLUSTER", value_name = "NAME")]
    cluster: Option<String>,
    /// The VAPID key pair that signs Web Push requests, made there at first start. Push
    /// services accept only the key a subscription was made with, so every node of a cluster
    /// needs the same file [default: vapid.key in the data dir]
    #[arg(long, env = "PIGEON_VAPID_KEY", value_name = "FILE")]
    vapid_key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    bus: Option<String>,
    sends_per_second: Option<f64>,
    send_burst: Option<f64>,
    store: Option<String>,
    postgres_schema: Option<String>,
    node_id: Option<String>,
    cluster: Option<String>,
    vapid_key: Option<PathBuf>,
}

/// Where the bus runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BusTarget {
    /// In-process, with its durable log in the data dir.
    Memory,
    /// NATS JetStream at this URL.
    Nats(String),
}

impl std::str::FromStr for BusTarget {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        if s == "memory" {
            Ok(Self::Memory)
        } else if s.starts_with("nats://") || s.starts_with("tls://") {
            Ok(Self::Nats(s.to_owned()))
        } else {
            anyhow::bail!("unknown bus {s:?}: use `memory` or `nats://HOST:PORT`")
        }
    }
}

/// Where the DM store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreTarget {
    /// SQLite in the data dir.
    Sqlite,
    /// PostgreSQL at this URL, in this schema when given.
    Postgres { url: String, schema: Option<String> },
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub(crate) struct ServeConfig {
    pub(crate) listen: SocketAddr,
    pub(crate) data_dir: PathBuf,
    pub(crate) bus: BusTarget,
    pub(crate) store: StoreTarget,
    /// The cluster name (empty without `--cluster`).
    pub(crate) cluster: String,
    /// Where the VAPID key pair is kept.
    pub(crate) vapid_key: PathBuf,
    pub(crate) dm: pigeon_dm::DmConfig,
}

impl ServeArgs {
    pub(crate) fn resolve(self) -> anyhow::Result<ServeConfig> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let bus = self.bus.or(file.bus).unwrap_or_else(|| "memory".into());
        let store = match self.store.or(file.store).as_deref() {
            None | Some("sqlite") => StoreTarget::Sqlite,
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                StoreTarget::Postgres {
                    url: url.to_owned(),
                    schema: self.postgres_schema.or(file.postgres_schema),
                }
            }
            Some(other) => {
                anyhow::bail!("unknown store {other:?}: use `sqlite` or `postgres://…`")
            }
        };
        let cluster = self.cluster.or(file.cluster).unwrap_or_default();
        check_name("cluster name", &cluster, true)?;
        let node_id = self
            .node_id
            .or(file.node_id)
            .unwrap_or_else(default_node_id);
        check_name("node id", &node_id, false)?;
        let postgres = matches!(store, StoreTarget::Postgres { .. });
        let data_dir = self
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| DEFAULT_DATA_DIR.into());
        Ok(ServeConfig {
            listen: match self.listen.or(file.listen) {
                Some(addr) => addr,
                None => DEFAULT_LISTEN.parse()?,
            },
            vapid_key: self
                .vapid_key
                .or(file.vapid_key)
                .unwrap_or_else(|| data_dir.join("vapid.key")),
            data_dir,
            bus: bus.parse()?,
            store,
            dm: {
                let mut dm = pigeon_dm::DmConfig::default();
                if let Some(rate) = self.sends_per_second.or(file.sends_per_second) {
                    dm.sends_per_second = rate;
                }
                if let Some(burst) = self.send_burst.or(file.send_burst) {
                    dm.send_burst = burst;
                }
                dm.node_id = node_id;
                if postgres {
                    dm.db_system = "postgresql".into();
                }
                if !cluster.is_empty() {
                    dm.topic_prefix = format!("{cluster}.");
                }
                dm
            },
            cluster,
        })
    }
}

/// The host name when it is a valid node id, else `node-1`.
fn default_node_id() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| check_name("", h, false).is_ok())
        .unwrap_or_else(|| "node-1".into())
}

/// Node ids and cluster names become topic tokens, consumer groups and KV keys:
/// `[A-Za-z0-9_-]`, non-empty unless `may_be_empty`.
fn check_name(what: &str, name: &str, may_be_empty: bool) -> anyhow::Result<()> {
    let plain = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !plain || (name.is_empty() && !may_be_empty) {
        anyhow::bail!("{what} {name:?} may only hold letters, digits, `-` and `_`");
    }
    Ok(())
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("in config file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(listen: Option<&str>, config: Option<PathBuf>) -> ServeArgs {
        ServeArgs {
            config,
            listen: listen.map(|l| l.parse().unwrap()),
            data_dir: None,
            bus: None,
            sends_per_second: None,
            send_burst: None,
            store: None,
            postgres_schema: None,
            node_id: None,
            cluster: None,
            vapid_key: None,
        }
    }

    #[test]
    fn defaults_apply_without_flags_or_file() {
        let c = args(None, None).resolve().unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(c.bus, BusTarget::Memory);
    }

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pigeon.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nbus = \"nats://127.0.0.1:4222\"\n",
        )
        .unwrap();
        let c = args(None, Some(path.clone())).resolve().unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.bus, BusTarget::Nats("nats://127.0.0.1:4222".into()));
        let c = args(Some("127.0.0.1:9001"), Some(path)).resolve().unwrap();
        assert_eq!(c.listen.port(), 9001);
    }

    #[test]
    fn unknown_keys_and_buses_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pigeon.toml");
        std::fs::write(&path, "lisen = \"127.0.0.1:9000\"\n").unwrap();
        let err = args(None, Some(path)).resolve().unwrap_err();
        assert!(format!("{err:#}").contains("lisen"), "{err:#}");
        assert!("kafka://x".parse::<BusTarget>().is_err());
    }

    #[test]
    fn the_vapid_key_lives_in_the_data_dir_unless_named() {
        let c = args(None, None).resolve().unwrap();
        assert_eq!(c.vapid_key, c.data_dir.join("vapid.key"));
        let mut a = args(None, None);
        a.vapid_key = Some("/etc/pigeon/vapid.key".into());
        assert_eq!(
            a.resolve().unwrap().vapid_key,
            PathBuf::from("/etc/pigeon/vapid.key")
        );
    }

    #[test]
    fn cluster_flags_set_the_prefix_node_and_store() {
        let mut a = args(None, None);
        a.cluster = Some("blue".into());
        a.node_id = Some("n2".into());
        a.store = Some("postgres://postgres@127.0.0.1/test".into());
        a.postgres_schema = Some("s1".into());
        let c = a.resolve().unwrap();
        assert_eq!(c.dm.topic_prefix, "blue.");
        assert_eq!(c.dm.node_id, "n2");
        assert_eq!(
            c.store,
            StoreTarget::Postgres {
                url: "postgres://postgres@127.0.0.1/test".into(),
                schema: Some("s1".into())
            }
        );
        let mut bad = args(None, None);
        bad.node_id = Some("a.b".into());
        assert!(bad.resolve().is_err());
    }
}

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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    bus: Option<String>,
    sends_per_second: Option<f64>,
    send_burst: Option<f64>,
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

/// The resolved configuration.
#[derive(Debug, Clone)]
pub(crate) struct ServeConfig {
    pub(crate) listen: SocketAddr,
    pub(crate) data_dir: PathBuf,
    pub(crate) bus: BusTarget,
    pub(crate) dm: pigeon_dm::DmConfig,
}

impl ServeArgs {
    pub(crate) fn resolve(self) -> anyhow::Result<ServeConfig> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let bus = self.bus.or(file.bus).unwrap_or_else(|| "memory".into());
        Ok(ServeConfig {
            listen: match self.listen.or(file.listen) {
                Some(addr) => addr,
                None => DEFAULT_LISTEN.parse()?,
            },
            data_dir: self
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
            bus: bus.parse()?,
            dm: {
                let mut dm = pigeon_dm::DmConfig::default();
                if let Some(rate) = self.sends_per_second.or(file.sends_per_second) {
                    dm.sends_per_second = rate;
                }
                if let Some(burst) = self.send_burst.or(file.send_burst) {
                    dm.send_burst = burst;
                }
                dm
            },
        })
    }
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
}

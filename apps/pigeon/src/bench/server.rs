//! A `pigeon serve` child process for the benchmarks: the server runs as users run it, in a
//! process of its own, so its memory and CPU are measured apart from the load generator's.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// A running `pigeon serve`; killed when dropped.
pub(crate) struct ServerProcess {
    child: Child,
    pub(crate) base: String,
}

impl ServerProcess {
    /// Starts `pigeon serve` on a free loopback port over `data_dir`, with `extra` flags (a
    /// cluster node's `--bus`, `--store`, …), tracing every request into its in-process span
    /// sink.
    pub(crate) fn start(data_dir: &Path, extra: &[String]) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("OTEL_TRACES_SAMPLER", "always_on")
            // The load generator sends as fast as the server takes it: no per-device limit.
            .env("PIGEON_SENDS_PER_SECOND", "1000000")
            .env("PIGEON_SEND_BURST", "1000000")
            .env("RUST_LOG", "warn,pigeon::serve=info")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting pigeon serve")?;
        let stderr = child.stderr.take().context("no stderr from pigeon serve")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    // Keep draining so the server never blocks on a full pipe.
                    continue;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut server = Self {
            child,
            base: String::new(),
        };
        while Instant::now() < deadline {
            let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) else {
                if let Some(status) = server.child.try_wait()? {
                    bail!("pigeon serve exited at start: {status}");
                }
                continue;
            };
            if let Some(rest) = line.split("listen=").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or_default();
                server.base = format!("http://{addr}");
                return Ok(server);
            }
        }
        bail!("pigeon serve did not say where it listens within 30 s")
    }

    /// Resident memory of the server process, in bytes.
    pub(crate) fn rss_bytes(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .context("no VmRSS")?
            .parse()?;
        Ok(kib * 1024)
    }

    /// CPU time the server process has used so far (user + system).
    pub(crate) fn cpu_time(&self) -> anyhow::Result<Duration> {
        cpu_time_of(&self.child.id().to_string())
    }

    /// The server's `/metrics` text.
    async fn metrics(&self) -> anyhow::Result<String> {
        Ok(reqwest::get(format!("{}/metrics", self.base))
            .await?
            .text()
            .await?)
    }

    /// Spans the server dropped (sum of `pigeon_spans_dropped_total`), from its `/metrics`.
    pub(crate) async fn spans_dropped(&self) -> anyhow::Result<u64> {
        Ok(sum_of(&self.metrics().await?, "pigeon_spans_dropped_total", "") as u64)
    }

    /// The SQLite store's group commits so far, from its `/metrics`; `None` when the server
    /// has no such metrics (its store is PostgreSQL).
    pub(crate) async fn commits(&self) -> anyhow::Result<Option<CommitCounts>> {
        let text = self.metrics().await?;
        if !text.contains("pigeon_store_commit_duration_seconds_count") {
            return Ok(None);
        }
        let commits = sum_of(&text, "pigeon_store_commit_duration_seconds_count", "");
        Ok(Some(CommitCounts {
            commits,
            requests: sum_of(&text, "pigeon_store_commit_requests_sum", ""),
            within_5ms: sum_of(
                &text,
                "pigeon_store_commit_duration_seconds_bucket",
                r#"le="0.005""#,
            ),
        }))
    }
}

/// Sum of the samples of metric `name` (exactly, any labels) whose line contains `with`.
fn sum_of(text: &str, name: &str, with: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
                && l.contains(with)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Counts of a server's group commits, read from its histograms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CommitCounts {
    commits: f64,
    requests: f64,
    within_5ms: f64,
}

impl CommitCounts {
    /// What happened between `earlier` and `self`.
    pub(crate) fn since(self, earlier: Self) -> Self {
        Self {
            commits: self.commits - earlier.commits,
            requests: self.requests - earlier.requests,
            within_5ms: self.within_5ms - earlier.within_5ms,
        }
    }

    pub(crate) fn commits(self) -> u64 {
        self.commits as u64
    }

    pub(crate) fn requests_per_commit(self) -> f64 {
        self.requests / self.commits.max(1.0)
    }

    /// Commits whose `COMMIT` (WAL write and fsync) took longer than 5 ms.
    pub(crate) fn over_5ms(self) -> u64 {
        (self.commits - self.within_5ms) as u64
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time (user + system) of process `pid` (`self` for this one), from `/proc/<pid>/stat`.
pub(crate) fn cpu_time_of(pid: &str) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').context("no command in /proc stat")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the name and state.
    let ticks: u64 = [11, 12]
        .iter()
        .map(|&i| {
            fields
                .get(i)
                .context("short /proc stat")?
                .parse::<u64>()
                .map_err(Into::into)
        })
        .sum::<anyhow::Result<u64>>()?;
    // /proc reports in USER_HZ, which is 100 on Linux whatever the kernel's tick.
    Ok(Duration::from_millis(ticks * 10))
}

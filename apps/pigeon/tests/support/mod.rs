//! Shared by the binary's tests: a real `pigeon serve` process on a free loopback port, killed
//! and reaped when dropped, with every log line it writes kept for inspection.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Serve {
    child: Child,
    /// `host:port` it listens on.
    pub addr: String,
    /// Every line it logged so far.
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    /// `pigeon serve --listen LISTEN --data-dir DIR` with `env`; waits for its "serving" line.
    pub fn start(dir: &std::path::Path, listen: &str, env: &[(&str, &str)]) -> Self {
        let dir = dir.to_str().expect("a UTF-8 data dir");
        Self::spawn(&["serve", "--listen", listen, "--data-dir", dir], env)
    }

    /// `pigeon ARGS` with `env`, for any subcommand that logs `listen=ADDR` once it serves.
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pigeon"));
        command
            .args(args)
            .env("RUST_LOG", "info")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        // Owned by the guard from here on, so it is killed and reaped whatever happens.
        let mut serve = Self {
            child,
            addr: String::new(),
            logs: logs.clone(),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listen=").nth(1) {
                    let _ = tx.send(
                        rest.split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
                logs.lock().unwrap().push(line);
            }
        });
        serve.addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("pigeon serve said where it listens within 30 s");
        serve
    }

    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to end by itself, up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `node tests-web/<script> <args>` (a playwright-core script driving headless Chromium)
/// and returns what it printed on stdout, or `None` to skip outside CI when Chromium or the npm
/// packages are missing (`scripts/test` installs both; with `CI=true` their absence fails).
pub fn browser_script(script: &str, args: &[&str]) -> Option<String> {
    let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests-web");
    let ready = std::path::Path::new("/usr/bin/chromium").exists()
        && web.join("node_modules/playwright-core").exists();
    if !ready {
        let msg = "browser test needs /usr/bin/chromium and tests-web/node_modules \
                   (run ./scripts/test, or apt-get install chromium && npm ci --prefix tests-web)";
        assert!(std::env::var("CI").is_err(), "{msg}");
        eprintln!("skipping: {msg}");
        return None;
    }
    let output = Command::new("node")
        .arg(web.join(script))
        .args(args)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(stdout)
}

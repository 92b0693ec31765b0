//! The durable in-process bus under `kill -9`: every publish that returned Ok before the crash is
//! delivered after a restart.
//!
//! The test re-runs its own binary as the child (selected by an environment variable): the
//! child publishes in a loop and prints each id once `publish` returned; the parent kills it
//! mid-stream, reopens the log and consumes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pigeon_bus::{Bus, MemoryBackend, MemoryConfig, Message, OutgoingMessage, SubscribeOptions};

const CHILD_ENV: &str = "PIGEON_BUS_CRASH_CHILD_DIR";

fn open(dir: &std::path::Path) -> Bus {
    let config = MemoryConfig {
        data_dir: Some(dir.to_owned()),
        ..MemoryConfig::default()
    };
    Bus::builder(MemoryBackend::open(config).unwrap())
        .tracing(false)
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_messages_survive_kill_9() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        // The child: publish until killed, reporting each accepted id.
        let bus = open(std::path::Path::new(&dir));
        let mut tasks = Vec::new();
        for worker in 0..4 {
            let bus = bus.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0u64.. {
                    let id = bus
                        .publish(OutgoingMessage::new("crash", format!("{worker}-{i}")))
                        .await
                        .unwrap();
                    println!("ACCEPTED {id}");
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "accepted_messages_survive_kill_9", "--nocapture"])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let a = accepted.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(id) = line.strip_prefix("ACCEPTED ") {
                a.lock().unwrap().push(id.to_owned());
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while accepted.lock().unwrap().len() < 2_000 {
        assert!(Instant::now() < deadline, "the child accepted too little");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL: no shutdown, no flush.
    child.wait().unwrap();
    reader.join().unwrap();
    let accepted: HashSet<String> = accepted.lock().unwrap().iter().cloned().collect();

    let bus = open(dir.path());
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let s = seen.clone();
    let sub = bus
        .subscribe(
            SubscribeOptions::new("crash", "after"),
            move |m: Message| {
                s.lock().unwrap().insert(m.envelope.id.to_string());
                std::future::ready(Ok(()))
            },
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let missing = accepted.difference(&seen.lock().unwrap()).count();
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} accepted messages lost in the crash"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sub.shutdown().await;
    bus.shutdown().await;
}

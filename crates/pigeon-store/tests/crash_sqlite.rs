//! Crash durability: a process doing sends is killed with SIGKILL; after a re-open, every send
//! whose `send()` had returned `Ok` is there.
//!
//! The child is this test binary again, running only `crash_child` with an environment variable
//! that tells it the database and the ids to use. It prints `SENT <message id>` after each `Ok`;
//! the parent kills it mid-stream, then checks every printed id against the recipient's mailbox.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pigeon_store::{DeviceCopy, DeviceId, MailboxItem, SendRequest, SqliteStore, Store, UserId};

const CHILD_ENV: &str = "PIGEON_STORE_CRASH_CHILD";

/// The child: a no-op unless started by `acknowledged_sends_survive_kill_9`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let [path, sender, recipient, recipient_device] = parts[..] else {
        panic!("bad spec");
    };
    let store = std::sync::Arc::new(SqliteStore::open(path).await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let store = store.clone();
        let (sender, recipient, device) = (
            DeviceId::from_string(sender),
            UserId::from_string(recipient),
            DeviceId::from_string(recipient_device),
        );
        tasks.push(tokio::spawn(async move {
            // Bounded: stops by itself if the parent never kills it.
            for i in 0..20_000 {
                if Instant::now() > deadline {
                    break;
                }
                let out = store
                    .send(SendRequest {
                        sender_device: sender.clone(),
                        client_msg_id: format!("w{worker}-{i}"),
                        recipient_user: recipient.clone(),
                        copies: vec![DeviceCopy {
                            device_id: device.clone(),
                            envelope_type: 1,
                            ciphertext: "ciphertext".into(),
                        }],
                        trace_context: None,
                    })
                    .await
                    .unwrap();
                let mut stdout = std::io::stdout().lock();
                writeln!(stdout, "SENT {}", out.message_id).unwrap();
                stdout.flush().unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[test]
fn acknowledged_sends_survive_kill_9() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let (alice, bob) = rt.block_on(async {
        let store = SqliteStore::open(&path).await.unwrap();
        let alice = store
            .create_user("alice".into(), "laptop".into())
            .await
            .unwrap();
        let bob = store
            .create_user("bob".into(), "phone".into())
            .await
            .unwrap();
        store.close().await;
        (alice, bob)
    });

    let spec = format!(
        "{}|{}|{}|{}",
        path.display(),
        alice.device_id,
        bob.user_id,
        bob.device_id
    );
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acknowledged = HashSet::new();
    let started = Instant::now();
    while acknowledged.len() < 400 && started.elapsed() < Duration::from_secs(30) {
        let Some(line) = lines.next() else { break };
        if let Some(id) = line.unwrap().strip_prefix("SENT ") {
            acknowledged.insert(id.to_string());
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix: no destructors, no close, no checkpoint.
    // What the child printed before it died was acknowledged too.
    for line in lines {
        let Ok(line) = line else { break };
        if let Some(id) = line.strip_prefix("SENT ") {
            acknowledged.insert(id.to_string());
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed, not finished");
    assert!(
        acknowledged.len() >= 50,
        "the child acknowledged only {} sends",
        acknowledged.len()
    );

    let stored: HashSet<String> = rt.block_on(async {
        let store = SqliteStore::open(&path).await.unwrap();
        let entries = store
            .fetch(bob.device_id.clone(), 0, 1_000_000)
            .await
            .unwrap();
        let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
        let want: Vec<u64> = (1..=seqs.len() as u64).collect();
        assert_eq!(seqs, want, "seqs are gapless after the crash");
        entries
            .into_iter()
            .filter_map(|e| match e.item {
                MailboxItem::Message { message_id, .. } => Some(message_id.to_string()),
                _ => None,
            })
            .collect()
    });
    eprintln!(
        "{} sends acknowledged before SIGKILL, {} stored after re-open",
        acknowledged.len(),
        stored.len()
    );
    let lost: Vec<&String> = acknowledged.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged sends lost: {lost:?}",
        lost.len()
    );
}

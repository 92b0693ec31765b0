//! `pigeon chat` as two people use it: two profiles, a real `pigeon serve`, real processes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};
use std::time::Duration;

mod support;

fn serve(dir: &std::path::Path) -> support::Serve {
    support::Serve::start(dir, "127.0.0.1:0", &[("RUST_LOG", "debug")])
}

/// Every file below `dir`, recursively.
fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn chat(profile: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pigeon"))
        .arg("chat")
        .arg("--profile")
        .arg(profile)
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn register_send_and_listen_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&dir.path().join("server"));
    let (alice, bob) = (dir.path().join("alice.json"), dir.path().join("bob.json"));
    ok(&chat(
        &alice,
        &["register", "--server", &server.url(), "--username", "alice"],
    ));
    ok(&chat(
        &bob,
        &["register", "--server", &server.url(), "--username", "bob"],
    ));
    let again = chat(
        &alice,
        &[
            "register",
            "--server",
            &server.url(),
            "--username",
            "alice2",
        ],
    );
    assert!(
        !again.status.success(),
        "an existing profile is never overwritten"
    );

    ok(&chat(
        &alice,
        &["send", "--to", "bob", "hello", "from", "alice"],
    ));
    ok(&chat(&alice, &["send", "--to", "bob", "second"]));
    let heard = ok(&chat(&bob, &["listen", "--count", "2"]));
    assert!(
        heard.contains("[") && heard.contains("] hello from alice"),
        "{heard}"
    );
    assert!(heard.contains("] second"), "{heard}");

    // Bob's reply continues the session saved in his profile; Alice hears it and the receipts.
    ok(&chat(&bob, &["send", "--to", "alice", "hi back"]));
    let heard = ok(&chat(&alice, &["listen", "--count", "1"]));
    assert!(heard.contains("] hi back"), "{heard}");
    assert!(heard.contains("✓ "), "delivery receipts shown: {heard}");

    let unknown = chat(&alice, &["send", "--to", "nobody", "x"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no user named nobody"));

    // The plaintext is nowhere on the server: not in its database, bus log or stored spans
    // (every span goes to the journey store in the data dir), not in its debug logs.
    std::thread::sleep(Duration::from_millis(500));
    let server_files = files(&dir.path().join("server"));
    assert!(
        server_files
            .iter()
            .any(|f| f.to_string_lossy().contains("journey")),
        "spans are stored: {server_files:?}"
    );
    for secret in ["hello from alice", "hi back"] {
        for file in &server_files {
            let bytes = std::fs::read(file).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret:?} in {}",
                file.display()
            );
        }
        let logs = server.logs.lock().unwrap();
        assert!(logs.len() > 5, "debug logs were captured");
        assert!(
            !logs.iter().any(|l| l.contains(secret)),
            "{secret:?} in the logs"
        );
    }
}

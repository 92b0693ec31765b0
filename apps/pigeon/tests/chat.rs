//! `pigeon chat` as two people use it: two profiles, a real `pigeon serve`, real processes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &std::path::Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pigeon"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut server = Server(child, String::new());
    let deadline = Instant::now() + Duration::from_secs(30);
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if let Some(rest) = line.split("listen=").nth(1) {
            server.1 = format!("http://{}", rest.split_whitespace().next().unwrap());
            return server;
        }
        assert!(Instant::now() < deadline);
    }
    panic!("pigeon serve never said where it listens");
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
        &["register", "--server", &server.1, "--username", "alice"],
    ));
    ok(&chat(
        &bob,
        &["register", "--server", &server.1, "--username", "bob"],
    ));
    let again = chat(
        &alice,
        &["register", "--server", &server.1, "--username", "alice2"],
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
}

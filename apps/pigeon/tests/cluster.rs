#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Three `pigeon serve` nodes on one NATS JetStream (127.0.0.1:4222) and one PostgreSQL
//! (127.0.0.1:5432, database `test`): a delivery crosses nodes and its receipt comes back, in
//! one trace; a node killed with `kill -9` loses nothing, and a NATS restart loses nothing the
//! API accepted.
//!
//! Each test has its own cluster name (topics, streams, KV buckets) and PostgreSQL schema. A
//! missing service skips the test, or fails it with `CI=true`. The NATS restart test holds an
//! exclusive file lock the others hold shared, and always leaves NATS running.

use std::collections::HashSet;
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pigeon_client::{Client, Connection, Event};

mod support;

const NATS: &str = "nats://127.0.0.1:4222";
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
const LOCK: &str = "/tmp/pigeon-cluster-tests.nats.lock";

fn up(addr: &str) -> bool {
    TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(1)).is_ok()
}

/// True when NATS and PostgreSQL answer; otherwise says why it skips (or panics in CI).
fn services() -> bool {
    for (name, addr) in [("NATS", "127.0.0.1:4222"), ("PostgreSQL", "127.0.0.1:5432")] {
        if !up(addr) {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{name} at {addr} is required in CI"
            );
            eprintln!("skipping: no {name} at {addr}");
            return false;
        }
    }
    true
}

/// A lock on [`LOCK`]: shared for tests that only use NATS, exclusive for the one restarting it.
fn nats_lock(exclusive: bool) -> std::fs::File {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK)
        .unwrap();
    if exclusive {
        file.lock().unwrap();
    } else {
        file.lock_shared().unwrap();
    }
    file
}

/// One cluster of `n` nodes with a fresh cluster name and schema.
struct Cluster {
    nodes: Vec<Option<support::Serve>>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn start(n: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let id = uuid::Uuid::now_v7().simple().to_string();
        let cluster = format!("t{}", &id[20..]);
        let schema = format!("cluster_{id}");
        let nodes = (1..=n)
            .map(|i| {
                let data = dir.path().join(format!("node-{i}"));
                let node = format!("node-{i}");
                Some(support::Serve::spawn(
                    &[
                        "serve",
                        "--listen",
                        "127.0.0.1:0",
                        "--data-dir",
                        data.to_str().unwrap(),
                        "--bus",
                        NATS,
                        "--store",
                        POSTGRES,
                        "--postgres-schema",
                        &schema,
                        "--cluster",
                        &cluster,
                        "--node-id",
                        &node,
                    ],
                    &[],
                ))
            })
            .collect();
        Self { nodes, _dir: dir }
    }

    fn url(&self, i: usize) -> String {
        self.nodes[i - 1].as_ref().expect("node running").url()
    }

    /// `kill -9` (the guard's kill is SIGKILL) and reap.
    fn kill(&mut self, i: usize) {
        drop(self.nodes[i - 1].take());
    }
}

async fn register(server: &str, name: &str) -> Client {
    let username = format!("{name}{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    Client::register(server, &username, "laptop").await.unwrap()
}

/// The next event within `limit`, if any.
async fn next(conn: &mut Connection, limit: Duration) -> Option<Event> {
    tokio::time::timeout(limit, conn.next_event())
        .await
        .ok()
        .map(|e| e.unwrap())
}

/// Waits for the message `id`, skipping other events.
async fn expect_message(conn: &mut Connection, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(Event::Message { message_id, .. }) = next(conn, Duration::from_secs(1)).await
            && message_id == id
        {
            return;
        }
    }
    panic!("message {id} not delivered");
}

/// Spans of `message_id`'s journey in one node's store, as (trace id, name, attributes).
async fn journey(node: &str, message_id: &str) -> Vec<(String, String, serde_json::Value)> {
    let url = format!("{node}/api/v1/journeys/{message_id}");
    let Ok(response) = reqwest::get(&url).await else {
        return Vec::new();
    };
    if !response.status().is_success() {
        return Vec::new();
    }
    let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    body["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let span = &s["span"];
            (
                span["trace_id"].as_str().unwrap().to_owned(),
                span["name"].as_str().unwrap().to_owned(),
                span["attributes"].clone(),
            )
        })
        .collect()
}

fn attr<'a>(attrs: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    attrs
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_crosses_nodes_in_one_trace_and_its_receipt_comes_back() {
    if !services() {
        return;
    }
    let _lock = nats_lock(false);
    let cluster = Cluster::start(3);
    let (node1, node2) = (cluster.url(1), cluster.url(2));
    let alice = register(&node1, "alice").await;
    let bob = register(&node2, "bob").await;
    let mut alice_conn = alice.connect().await.unwrap();
    let mut bob_conn = bob.connect().await.unwrap();
    // The session's claim reaches the directory just after the WebSocket opens.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let sent = alice
        .send_text(&bob.credentials().user_id, "across nodes")
        .await
        .unwrap();
    match next(&mut bob_conn, Duration::from_secs(10)).await {
        Some(Event::Message {
            message_id, text, ..
        }) => {
            assert_eq!(message_id, sent.message_id);
            assert_eq!(text, "across nodes");
        }
        other => panic!("bob got {other:?}"),
    }
    // Bob's ack (sent by the client) becomes a delivery receipt for Alice on node 1.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "no delivery receipt on node 1");
        if let Some(Event::Delivered { message_id, .. }) =
            next(&mut alice_conn, Duration::from_secs(1)).await
            && message_id == sent.message_id
        {
            break;
        }
    }

    // One trace across both nodes: node 1 stored the send, node 2's session delivered it.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let on1 = journey(&node1, &sent.message_id).await;
        let on2 = journey(&node2, &sent.message_id).await;
        let persist = on1.iter().find(|(_, name, _)| name == "messaging.persist");
        let check = on2.iter().find(|(_, name, attrs)| {
            name == "messaging.check_ws_connection"
                && attr(attrs, "websocket.server").and_then(|v| v.as_str()) == Some("node-2")
        });
        // And the receipt's way back: node 1's session delivered it to Alice in that trace.
        let back = on1.iter().find(|(_, name, attrs)| {
            name == "messaging.deliver_websocket"
                && attr(attrs, "mailbox.kind").and_then(|v| v.as_str()) == Some("delivery_receipt")
        });
        if let (Some((t1, _, _)), Some((t2, _, _)), Some((t3, _, _))) = (persist, check, back) {
            assert_eq!(t1, t2, "node 2's spans continue node 1's trace");
            assert!(
                on2.iter()
                    .any(|(t, name, _)| t == t2 && name == "messaging.deliver_websocket"),
                "node 2 delivered over its WebSocket: {on2:?}"
            );
            assert_eq!(
                t1, t3,
                "the receipt came back to node 1 in the message's trace"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no trace spanning both nodes:\nnode 1: {on1:?}\nnode 2: {on2:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Whichever node routed it: `messaging.deliver` there either handed the delivery on to
    // node 2, or (node 2 itself) ended with the WebSocket ack's outcome.
    let deadline = Instant::now() + Duration::from_secs(15);
    let node3 = cluster.url(3);
    loop {
        let mut routed = Vec::new();
        for node in [&node1, &node2, &node3] {
            routed.extend(
                journey(node, &sent.message_id)
                    .await
                    .into_iter()
                    .filter(|(_, name, _)| name == "messaging.deliver"),
            );
        }
        if let [(_, _, attrs)] = routed.as_slice() {
            let forwarded = attr(attrs, "delivery.forwarded_to").and_then(|v| v.as_str());
            let success = attr(attrs, "delivery.success").and_then(serde_json::Value::as_bool);
            let method = attr(attrs, "delivery.method").and_then(|v| v.as_str());
            let handed_on = forwarded == Some("node-2");
            let acked_here = success == Some(true) && method == Some("websocket");
            assert!(handed_on || acked_here, "messaging.deliver: {attrs}");
            break;
        }
        assert!(routed.len() <= 1, "routed once: {routed:?}");
        assert!(
            Instant::now() < deadline,
            "no messaging.deliver on any node"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_node_loses_nothing_its_device_had_not_acked() {
    if !services() {
        return;
    }
    let _lock = nats_lock(false);
    let mut cluster = Cluster::start(3);
    let (node1, node2, node3) = (cluster.url(1), cluster.url(2), cluster.url(3));
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("bob.json");
    let alice = register(&node1, "alice").await;
    let bob = register(&node2, "bob").await;
    let mut bob_conn = bob.connect().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A first message read and acked on node 2; the profile keeps the Olm session it made.
    let first = alice
        .send_text(&bob.credentials().user_id, "first")
        .await
        .unwrap();
    expect_message(&mut bob_conn, &first.message_id).await;
    bob.save(&profile).unwrap();

    // Five more reach node 2's session but are never read, so never acked.
    let mut unacked = HashSet::new();
    for i in 0..5 {
        let sent = alice
            .send_text(&bob.credentials().user_id, &format!("unacked {i}"))
            .await
            .unwrap();
        unacked.insert(sent.message_id);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.kill(2);
    drop(bob_conn);

    // Bob comes back on node 3: every unacked message, once, and not the acked one.
    let bob3 = reconnect_to(&profile, &node3);
    let mut conn = bob3.connect().await.unwrap();
    let mut got = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.len() < unacked.len() && Instant::now() < deadline {
        if let Some(Event::Message { message_id, .. }) =
            next(&mut conn, Duration::from_secs(1)).await
        {
            assert_ne!(message_id, first.message_id, "an acked message came again");
            assert!(got.insert(message_id.clone()), "{message_id} came twice");
        }
    }
    assert_eq!(got, unacked, "every unacked message arrives on node 3");
    // The acks are recorded beside the session; then a new connection gets nothing again.
    tokio::time::sleep(Duration::from_secs(1)).await;
    conn.close().await;
    let mut again = bob3.connect().await.unwrap();
    while let Some(event) = next(&mut again, Duration::from_secs(3)).await {
        assert!(
            !matches!(event, Event::Message { .. }),
            "delivered twice after its ack: {event:?}"
        );
    }
}

/// Bob's saved profile, pointed at another node of the cluster.
fn reconnect_to(profile: &Path, server: &str) -> Client {
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(profile).unwrap()).unwrap();
    json["server"] = server.into();
    std::fs::write(profile, serde_json::to_vec(&json).unwrap()).unwrap();
    Client::load(profile).unwrap()
}

/// Keeps NATS running when the test ends, however it ends.
struct NatsGuard;

impl NatsGuard {
    fn stop() {
        let out = std::process::Command::new("pidof")
            .arg("nats-server")
            .output()
            .unwrap();
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = std::process::Command::new("kill").arg(pid).status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while up("127.0.0.1:4222") {
            assert!(Instant::now() < deadline, "NATS did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn start() {
        let status = std::process::Command::new("start-stop-daemon")
            .args([
                "--start",
                "--oknodo",
                "--background",
                "--exec",
                "/usr/sbin/nats-server",
                "--",
                "-a",
                "127.0.0.1",
                "-p",
                "4222",
                "-js",
                "-sd",
                "/var/lib/nats-server",
                "-l",
                "/var/log/nats-server.log",
            ])
            .status()
            .unwrap();
        assert!(status.success(), "start-stop-daemon failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !up("127.0.0.1:4222") {
            assert!(Instant::now() < deadline, "NATS did not come back");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for NatsGuard {
    fn drop(&mut self) {
        if !up("127.0.0.1:4222") {
            Self::start();
        }
    }
}

/// Collects the ids of messages `conn` receives until the task is aborted.
fn collect(mut conn: Connection, into: Arc<Mutex<HashSet<String>>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Ok(Event::Message { message_id, .. }) = conn.next_event().await {
                into.lock().unwrap().insert(message_id);
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nats_restart_loses_nothing_the_api_accepted() {
    if !services() {
        return;
    }
    let _lock = nats_lock(true);
    let _guard = NatsGuard;
    let cluster = Cluster::start(3);
    let (node1, node2) = (cluster.url(1), cluster.url(2));
    let alice = register(&node1, "alice").await;
    let bob = register(&node2, "bob").await;
    let received = Arc::new(Mutex::new(HashSet::new()));
    let listener = collect(bob.connect().await.unwrap(), received.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut accepted = HashSet::new();
    for i in 0..30 {
        if i == 10 {
            tokio::task::spawn_blocking(NatsGuard::stop).await.unwrap();
        }
        if i == 20 {
            tokio::task::spawn_blocking(NatsGuard::start).await.unwrap();
        }
        let text = format!("m{i}");
        let send = alice.send_text(&bob.credentials().user_id, &text);
        if let Ok(Ok(sent)) = tokio::time::timeout(Duration::from_secs(15), send).await {
            accepted.insert(sent.message_id);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        accepted.len() >= 20,
        "the API kept accepting: {}",
        accepted.len()
    );

    // Live delivery first; what a lost notice held back comes at the next connection.
    let all_in = |deadline: Instant| {
        let (received, accepted) = (received.clone(), accepted.clone());
        async move {
            while Instant::now() < deadline {
                if accepted.is_subset(&received.lock().unwrap()) {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            false
        }
    };
    if !all_in(Instant::now() + Duration::from_secs(10)).await {
        listener.abort();
        let _ = listener.await;
        let listener = collect(bob.connect().await.unwrap(), received.clone());
        let done = all_in(Instant::now() + Duration::from_secs(30)).await;
        listener.abort();
        let missing: Vec<_> = accepted
            .difference(&received.lock().unwrap())
            .cloned()
            .collect();
        assert!(done, "accepted but never delivered: {missing:?}");
    } else {
        listener.abort();
    }
}

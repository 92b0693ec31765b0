//! `pigeon bench dm`: end-to-end direct messaging against a `pigeon serve` process.
//!
//! Each pair is two SDK clients. The sender encrypts (Olm) and sends; the recipient's live
//! connection receives, decrypts and acks; the delivery receipt travels back to the sender.
//! Closed loop by default (each sender keeps `--in-flight` sends going), or open loop at
//! `--rate` messages per second in all. The send time rides inside the encrypted text, so the
//! delivery latency is measured where the message is decrypted. In the open loop the pairs'
//! schedules are staggered (pair `i` starts `i / rate` seconds in, so sends arrive evenly rather
//! than all pairs at once), and latency runs from the time a send was due, not from when it went
//! out: a send held up by a slow one before it counts its wait (no coordinated omission).
//! `--idle N` instead measures the server's memory per idle authenticated connection.
//!
//! `--nodes N` runs N `pigeon serve` processes as one cluster (same `--bus nats://…`, same
//! `--store postgres://…`, a fresh cluster name and schema) and spreads the pairs so a sender
//! and its recipient sit on different nodes: every delivery and receipt crosses nodes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use pigeon_client::{Client, Event};
use serde::Serialize;
use tokio::task::JoinSet;

use super::latency::Latencies;
use super::server::{CommitCounts, ServerProcess, cpu_time_of};

/// Options of `pigeon bench dm`.
#[derive(Debug, Args)]
pub(crate) struct DmBenchArgs {
    /// Sender/recipient pairs.
    #[arg(long, default_value_t = 50)]
    pairs: usize,
    /// How long to send.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Open loop: messages per second in all. Default: as fast as the server takes them.
    #[arg(long)]
    rate: Option<f64>,
    /// Closed loop: sends each sender keeps going at once.
    #[arg(long, default_value_t = 8)]
    in_flight: usize,
    /// Instead: connect this many idle authenticated devices and report memory per connection.
    #[arg(long)]
    idle: Option<usize>,
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
    /// `pigeon serve` nodes to run as one cluster; more than one needs `--bus nats://…` and
    /// `--store postgres://…`.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// The servers' bus (`--bus` of `pigeon serve`). Default: memory.
    #[arg(long, value_name = "URL")]
    bus: Option<String>,
    /// The servers' store (`--store` of `pigeon serve`), in a fresh schema when PostgreSQL.
    /// Default: SQLite.
    #[arg(long, value_name = "URL")]
    store: Option<String>,
}

#[derive(Serialize)]
struct Report {
    nodes: usize,
    pairs: usize,
    sent: u64,
    delivered: u64,
    receipts: u64,
    msgs_per_s: f64,
    deliver_p50_ms: f64,
    deliver_p99_ms: f64,
    receipt_p99_ms: f64,
    server_rss_mb: f64,
    spans_dropped: u64,
    /// CPU the servers used per message sent while measuring (user + system): steadier than
    /// msgs/s on a shared machine.
    server_cpu_us_per_msg: f64,
    /// The same for the load generator (encrypt, send, decrypt, ack, on the same cores).
    client_cpu_us_per_msg: f64,
    /// SQLite group commits while measuring (`null` with PostgreSQL).
    commits: Option<u64>,
    /// Write requests (sends, acks) a commit carried on average.
    requests_per_commit: Option<f64>,
    /// Commits whose WAL write and fsync alone took more than 5 ms: every send waiting on
    /// one of them was delivered later than that.
    commits_over_5ms: Option<u64>,
}

#[derive(Serialize)]
struct IdleReport {
    idle: usize,
    /// Server RSS growth from no connection to `idle`, per connection.
    rss_per_connection_kib: f64,
    /// The same over the second half only, once caches that stop growing (SQLite pages, the
    /// token cache, the allocator's own) are warm: what one more connection costs.
    marginal_kib_per_connection: f64,
    server_rss_mb: f64,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    delivered: AtomicU64,
    receipts: AtomicU64,
}

pub(crate) async fn run(args: DmBenchArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let servers = start_servers(dir.path(), &args)?;
    match args.idle {
        Some(idle) => run_idle(&servers[0], idle, args.json).await,
        None => run_pairs(&servers, &args).await,
    }
}

/// The `pigeon serve` processes: one, or `--nodes` of one fresh cluster.
fn start_servers(dir: &std::path::Path, args: &DmBenchArgs) -> anyhow::Result<Vec<ServerProcess>> {
    let nodes = args.nodes.max(1);
    let postgres = args
        .store
        .as_deref()
        .is_some_and(|s| s.starts_with("postgres"));
    let nats = args.bus.as_deref().is_some_and(|b| b.starts_with("nats"));
    if nodes > 1 && !(postgres && nats) {
        anyhow::bail!("--nodes {nodes} needs --bus nats://… and --store postgres://…");
    }
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let mut shared = Vec::new();
    if let Some(bus) = &args.bus {
        shared.extend(["--bus".to_owned(), bus.clone()]);
    }
    if let Some(store) = &args.store {
        shared.extend(["--store".to_owned(), store.clone()]);
    }
    if postgres {
        shared.extend(["--postgres-schema".to_owned(), format!("bench_{tag}")]);
    }
    if nats {
        shared.extend(["--cluster".to_owned(), format!("bench{}", &tag[20..])]);
    }
    (1..=nodes)
        .map(|i| {
            let mut flags = shared.clone();
            flags.extend(["--node-id".to_owned(), format!("node-{i}")]);
            let server = ServerProcess::start(&dir.join(format!("node-{i}")), &flags)?;
            eprintln!("bench dm: pigeon serve node-{i} at {}", server.base);
            Ok(server)
        })
        .collect()
}

async fn run_pairs(servers: &[ServerProcess], args: &DmBenchArgs) -> anyhow::Result<()> {
    eprintln!("bench dm: registering {} pairs…", args.pairs);
    let epoch = Instant::now();
    let counters = Arc::new(Counters::default());
    let deliver = Arc::new(Latencies::new()?);
    let receipt = Arc::new(Latencies::new()?);
    let stop_at = Arc::new(Mutex::new(None::<Instant>));
    let mut tasks = JoinSet::new();
    let mut senders = Vec::new();
    for i in 0..args.pairs {
        let tag = uuid::Uuid::now_v7().simple().to_string();
        // Sender on node i, recipient on the next one: with several nodes, every hop crosses.
        let home = &servers[i % servers.len()].base;
        let away = &servers[(i + 1) % servers.len()].base;
        let alice = Client::register(home, &format!("a{i}-{}", &tag[20..]), "bench").await?;
        let bob = Client::register(away, &format!("b{i}-{}", &tag[20..]), "bench").await?;
        let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        // The recipient: decrypt, ack (the connection does), measure.
        let mut bob_live = bob.connect().await?;
        let (c, d) = (counters.clone(), deliver.clone());
        tasks.spawn(async move {
            loop {
                match bob_live.next_event().await? {
                    Event::Message { text, .. } => {
                        let n = c.delivered.fetch_add(1, Ordering::Relaxed);
                        // `t=0` is a pair's warm-up message: not measured.
                        if let Some(nanos) = text
                            .strip_prefix("t=")
                            .and_then(|t| t.parse::<u64>().ok())
                            .filter(|&nanos| nanos > 0)
                        {
                            let now = epoch.elapsed().as_nanos() as u64;
                            d.record(n, now.saturating_sub(nanos) / 1_000);
                        }
                    }
                    Event::Undecryptable { reason, .. } => anyhow::bail!("undecryptable: {reason}"),
                    _ => {}
                }
            }
            #[allow(unreachable_code)]
            anyhow::Ok(())
        });
        // The sender's own connection: delivery receipts.
        let mut alice_live = alice.connect().await?;
        let (c, r, times) = (counters.clone(), receipt.clone(), sent_at.clone());
        tasks.spawn(async move {
            loop {
                if let Event::Delivered { message_id, .. } = alice_live.next_event().await? {
                    let n = c.receipts.fetch_add(1, Ordering::Relaxed);
                    let started = times
                        .lock()
                        .map_err(|_| anyhow::anyhow!("poisoned"))?
                        .remove(&message_id);
                    if let Some(started) = started {
                        r.record(n, started.elapsed().as_micros() as u64);
                    }
                }
            }
            #[allow(unreachable_code)]
            anyhow::Ok(())
        });
        // A first message sets up the Olm session outside the measurement.
        let bob_id = bob.credentials().user_id.clone();
        alice.send_text(&bob_id, "t=0").await?;
        senders.push((alice, bob_id, sent_at));
    }
    // Let the warm-up messages drain before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base = (
        counters.sent.load(Ordering::Relaxed),
        counters.delivered.load(Ordering::Relaxed),
        counters.receipts.load(Ordering::Relaxed),
    );
    let duration = Duration::from_secs(args.seconds.max(1));
    let cpu_before = cpu_times(servers)?;
    // SQLite has one node (more need PostgreSQL, which has no such metrics).
    let commits_before = servers[0].commits().await?;
    let started = Instant::now();
    *stop_at.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = Some(started + duration);
    let mut send_tasks = JoinSet::new();
    for (pair, (alice, bob_id, sent_at)) in senders.into_iter().enumerate() {
        let lanes = if args.rate.is_some() {
            1
        } else {
            args.in_flight.max(1)
        };
        for _ in 0..lanes {
            let (alice, bob_id, sent_at, c) = (
                alice.clone(),
                bob_id.clone(),
                sent_at.clone(),
                counters.clone(),
            );
            let stop = started + duration;
            // Open loop: this pair's first send is due `pair / rate` in, then one every
            // `pairs / rate`.
            let mut schedule = args.rate.map(|rate| {
                (
                    started + Duration::from_secs_f64(pair as f64 / rate),
                    Duration::from_secs_f64(args.pairs as f64 / rate),
                )
            });
            send_tasks.spawn(async move {
                while Instant::now() < stop {
                    let begun = match &mut schedule {
                        Some((due, every)) => {
                            tokio::time::sleep_until((*due).into()).await;
                            let was_due = *due;
                            *due += *every;
                            was_due
                        }
                        None => Instant::now(),
                    };
                    let t = begun.duration_since(epoch).as_nanos();
                    let sent = alice.send_text(&bob_id, &format!("t={t}")).await?;
                    sent_at
                        .lock()
                        .map_err(|_| anyhow::anyhow!("poisoned"))?
                        .insert(sent.message_id, begun);
                    c.sent.fetch_add(1, Ordering::Relaxed);
                }
                anyhow::Ok(())
            });
        }
    }
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    while started.elapsed() < duration {
        ticker.tick().await;
        eprintln!(
            "bench dm: {:>3.0} s  sent {:>8}  delivered {:>8}  receipts {:>8}",
            started.elapsed().as_secs_f64(),
            counters.sent.load(Ordering::Relaxed) - base.0,
            counters.delivered.load(Ordering::Relaxed) - base.1,
            counters.receipts.load(Ordering::Relaxed) - base.2,
        );
        if let Some(result) = tasks.try_join_next()
            && let Err(err) = result?
        {
            anyhow::bail!("a receiving client failed: {err:?}");
        }
    }
    while let Some(result) = send_tasks.join_next().await {
        if let Err(err) = result? {
            anyhow::bail!("a sender failed: {err:#}");
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_after = cpu_times(servers)?;
    let commits = servers[0]
        .commits()
        .await?
        .zip(commits_before)
        .map(|(after, before)| after.since(before));
    // Give the last deliveries and receipts a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;
    tasks.abort_all();
    let sent = counters.sent.load(Ordering::Relaxed) - base.0;
    let (d50, d99) = deliver.percentiles()?;
    let (_, r99) = receipt.percentiles()?;
    let mut rss = 0;
    let mut spans_dropped = 0;
    for server in servers {
        rss += server.rss_bytes()?;
        spans_dropped += server.spans_dropped().await?;
    }
    let report = Report {
        nodes: servers.len(),
        pairs: args.pairs,
        sent,
        delivered: counters.delivered.load(Ordering::Relaxed) - base.1,
        receipts: counters.receipts.load(Ordering::Relaxed) - base.2,
        msgs_per_s: sent as f64 / seconds,
        deliver_p50_ms: d50 as f64 / 1e3,
        deliver_p99_ms: d99 as f64 / 1e3,
        receipt_p99_ms: r99 as f64 / 1e3,
        server_rss_mb: rss as f64 / (1 << 20) as f64,
        spans_dropped,
        server_cpu_us_per_msg: per_message(cpu_after.0 - cpu_before.0, sent),
        client_cpu_us_per_msg: per_message(cpu_after.1 - cpu_before.1, sent),
        commits: commits.map(CommitCounts::commits),
        requests_per_commit: commits.map(CommitCounts::requests_per_commit),
        commits_over_5ms: commits.map(CommitCounts::over_5ms),
    };
    eprintln!(
        "bench dm: {} nodes, {} pairs, {:.0} msgs/s, deliver p50 {:.2} ms p99 {:.2} ms, receipt p99 {:.2} ms, servers {:.0} MiB, {} spans dropped, CPU a message: servers {:.0} µs, load generator {:.0} µs",
        report.nodes,
        report.pairs,
        report.msgs_per_s,
        report.deliver_p50_ms,
        report.deliver_p99_ms,
        report.receipt_p99_ms,
        report.server_rss_mb,
        report.spans_dropped,
        report.server_cpu_us_per_msg,
        report.client_cpu_us_per_msg
    );
    if let Some(c) = commits {
        eprintln!(
            "bench dm: {} SQLite commits, {:.1} write requests each, {} of them over 5 ms",
            c.commits(),
            c.requests_per_commit(),
            c.over_5ms()
        );
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}

/// CPU used so far by the servers together, and by this load generator.
fn cpu_times(servers: &[ServerProcess]) -> anyhow::Result<(Duration, Duration)> {
    let mut total = Duration::ZERO;
    for server in servers {
        total += server.cpu_time()?;
    }
    Ok((total, cpu_time_of("self")?))
}

/// Microseconds of `cpu` per message of `sent`.
fn per_message(cpu: Duration, sent: u64) -> f64 {
    cpu.as_secs_f64() * 1e6 / sent.max(1) as f64
}

async fn run_idle(server: &ServerProcess, idle: usize, json: bool) -> anyhow::Result<()> {
    eprintln!("bench dm: registering {idle} devices…");
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let mut clients = Vec::with_capacity(idle);
    for i in 0..idle {
        clients
            .push(Client::register(&server.base, &format!("i{i}-{}", &tag[24..]), "idle").await?);
        if (i + 1) % 1000 == 0 {
            eprintln!("bench dm: {} registered", i + 1);
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = server.rss_bytes()?;
    let mut connections = Vec::with_capacity(idle);
    let mut halfway = before;
    for (i, client) in clients.iter().enumerate() {
        connections.push(client.connect().await?);
        if (i + 1) % 1000 == 0 {
            eprintln!("bench dm: {} connected", i + 1);
        }
        if i + 1 == idle / 2 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            halfway = server.rss_bytes()?;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.rss_bytes()?;
    let kib_per = |bytes: u64, n: usize| bytes as f64 / n.max(1) as f64 / 1024.0;
    let report = IdleReport {
        idle,
        rss_per_connection_kib: kib_per(after.saturating_sub(before), idle),
        marginal_kib_per_connection: kib_per(after.saturating_sub(halfway), idle - idle / 2),
        server_rss_mb: after as f64 / (1 << 20) as f64,
    };
    eprintln!(
        "bench dm: {} idle connections, {:.1} KiB each ({:.1} KiB for each of the second half), server {:.0} MiB",
        report.idle,
        report.rss_per_connection_kib,
        report.marginal_kib_per_connection,
        report.server_rss_mb
    );
    if json {
        println!("{}", serde_json::to_string(&report)?);
    }
    drop(connections);
    Ok(())
}

//! `pigeon trace <id>`: the journey of a message as a waterfall in the terminal.
//!
//! * `render`: the waterfall, as text (pure: a journey in, lines out).
//!
//! The journey comes from a running server's API (`--server`, the default), or straight from a
//! data dir (`--data-dir`) when no server holds it open.

mod render;

pub(crate) use render::waterfall;

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use pigeon_journey::{Journey, JourneyOptions, JourneyStore, StoreConfig};

/// Options of `pigeon trace`.
#[derive(Debug, Args)]
pub(crate) struct TraceArgs {
    /// A message, order, correlation or conversation id (anything the journey store indexes),
    /// or a 32-hex-digit trace id.
    id: String,
    /// The server to ask.
    #[arg(long, env = "PIGEON_SERVER", default_value = "http://127.0.0.1:7878")]
    server: String,
    /// Read the journey store in this data dir instead of asking a server (the server must not
    /// be running on it).
    #[arg(long, value_name = "DIR", conflicts_with = "server")]
    data_dir: Option<PathBuf>,
    /// Width of the timeline in characters.
    #[arg(long, default_value_t = 48)]
    width: usize,
    /// Print the journey as JSON instead.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: TraceArgs) -> anyhow::Result<()> {
    let journey = match &args.data_dir {
        Some(dir) => from_data_dir(dir.clone(), args.id.clone()).await?,
        None => from_server(&args.server, &args.id).await?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&journey)?);
    } else {
        for line in render::waterfall(&journey, args.width) {
            println!("{line}");
        }
    }
    Ok(())
}

async fn from_server(server: &str, id: &str) -> anyhow::Result<Journey> {
    let url = format!("{}/api/v1/journeys/{id}", server.trim_end_matches('/'));
    let response = reqwest::get(&url)
        .await
        .with_context(|| format!("asking {server} (is `pigeon serve` running there?)"))?;
    let status = response.status();
    let body = response.text().await.context("reading the answer")?;
    if status == reqwest::StatusCode::NOT_FOUND {
        bail!("no journey carries the id {id:?}");
    }
    if !status.is_success() {
        bail!("{url} answered {status}: {body}");
    }
    serde_json::from_str(&body).context("the server's journey is not valid JSON")
}

async fn from_data_dir(dir: PathBuf, id: String) -> anyhow::Result<Journey> {
    tokio::task::spawn_blocking(move || {
        let store = JourneyStore::open(StoreConfig::default().with_data_dir(dir.join("journey")))
            .with_context(|| format!("opening the journey store in {}", dir.display()))?;
        let journey = store.journey(&id, &JourneyOptions::default());
        if journey.spans.is_empty() {
            bail!("no journey carries the id {id:?}");
        }
        Ok(journey)
    })
    .await?
}

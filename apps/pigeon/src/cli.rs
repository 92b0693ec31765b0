//! The command line.

use clap::{Parser, Subcommand};

use crate::{bench, chat, demo, journey, serve, trace};

/// Pigeon: end-to-end encrypted direct messaging and a message bus where every message can be
/// followed end to end.
#[derive(Debug, Parser)]
#[command(name = "pigeon", version, about, long_about = None, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the Pigeon server on embedded defaults: HTTP on 127.0.0.1:7878 with /healthz,
    /// /readyz and /metrics, the in-process bus durable in ./pigeon-data. Telemetry follows
    /// the standard OTEL_* variables (none set: nothing leaves the process).
    Serve(serve::ServeArgs),
    /// A terminal chat client: register, send, listen, or chat interactively.
    Chat(chat::ChatArgs),
    /// Run traffic through a system in this process, then show where to look.
    #[command(subcommand)]
    Demo(demo::DemoCommand),
    /// Run the journey store alone: an OTLP/HTTP collector target (127.0.0.1:4318) for services
    /// in any language, with the web UI at /ui/ and the journey API.
    Journey(journey::JourneyArgs),
    /// Show the journey of a message (every trace that carries its id, joined) as a waterfall:
    /// which step it is in, how long each took, where it stopped.
    Trace(trace::TraceArgs),
    /// Run a benchmark and print its figures (one JSON object on the last line with --json).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Trace(args) => trace::run(args).await,
        Command::Journey(args) => journey::run(args).await,
        Command::Chat(args) => chat::run(args).await,
        Command::Demo(command) => demo::run(command).await,
        Command::Bench(command) => bench::run(command).await,
    }
}

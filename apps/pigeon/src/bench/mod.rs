//! `pigeon bench`: the benchmarks whose figures stand in the README.
//!
//! Benchmarks are commands, not tests: they print progress on stderr and one JSON object on the
//! last line of stdout with `--json`, so runs can be compared as ratios on a noisy machine.

pub(crate) mod bus;
mod dm;
mod journey;
mod latency;
mod pipeline;
mod server;

use clap::Subcommand;

/// Which benchmark to run.
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// One bus hop (publish → handler → ack) as fast as it goes.
    Bus(bus::BusBenchArgs),
    /// Direct messaging end to end against a `pigeon serve` process: encrypt, send, deliver
    /// over WebSocket, decrypt, ack, delivery receipt back; or `--idle N` connections.
    Dm(dm::DmBenchArgs),
    /// The journey store: ingest, drops at a paced rate, journey look-ups, memory per span.
    Journey(journey::JourneyBenchArgs),
    /// The restaurant order pipeline: five services in one process, every span into the
    /// journey store; orders/s, end-to-end p50/p99, and each step's share of the time.
    Pipeline(pipeline::PipelineBenchArgs),
}

pub(crate) async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Bus(args) => bus::run(args).await,
        BenchCommand::Journey(args) => journey::run(args).await,
        BenchCommand::Dm(args) => dm::run(args).await,
        BenchCommand::Pipeline(args) => pipeline::run(args).await,
    }
}

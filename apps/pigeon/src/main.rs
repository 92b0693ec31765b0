//! `pigeon`: one binary for the server, the benchmarks and the tools.
//!
//! * `cli`: the command line (clap), with `--help` that teaches.
//! * `serve`: `pigeon serve`, the main job.
//! * `demo`: `pigeon demo orders|marker`, the seeds' pipelines traced, then where to look.
//! * `journey`: `pigeon journey`, the journey store alone as an OTLP collector target with its UI.
//! * `chat`: `pigeon chat`, a terminal client on the SDK.
//! * `trace`: `pigeon trace <id>`, a journey as a waterfall in the terminal.
//! * `bench`: `pigeon bench …`, the benchmarks behind the README's figures.

mod bench;
mod chat;
mod cli;
mod demo;
mod journey;
mod serve;
mod trace;

use clap::Parser as _;

// A message server allocates small objects at a high rate from many threads: mimalloc's
// thread-local free lists cost about half of glibc malloc's on this workload.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(cli::run(cli))
}

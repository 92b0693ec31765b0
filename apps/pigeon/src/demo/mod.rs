//! `pigeon demo`: traffic through a system, then where to look.
//!
//! * `orders`: the restaurant order pipeline (seed 001) in this process, every service with its
//!   own `service.name`, every span into an embedded journey store; at the end, the latency of
//!   each operation (find the bottleneck) and one order's journey as a waterfall.

mod orders;

use clap::Subcommand;

/// Which demo.
#[derive(Debug, Subcommand)]
pub(crate) enum DemoCommand {
    /// The restaurant order pipeline: five services on the in-process bus, traced end to end.
    Orders(orders::OrdersDemoArgs),
}

pub(crate) async fn run(command: DemoCommand) -> anyhow::Result<()> {
    match command {
        DemoCommand::Orders(args) => orders::run(args).await,
    }
}

//! `pigeon bench journey`: the journey store's ingest rate, drops at a paced rate, journey
//! look-up latency and memory per span, on a realistic mix of DM and bus traces.

use clap::Args;
use pigeon_journey::BenchOptions;

/// Options of `pigeon bench journey`.
#[derive(Debug, Args)]
pub(crate) struct JourneyBenchArgs {
    /// Spans to store (the journey look-ups run against all of them).
    #[arg(long, default_value_t = 2_000_000)]
    spans: usize,
    /// Rate of the drop test, spans per second from a producer thread (0 skips it).
    #[arg(long, default_value_t = 500_000)]
    paced_rate: u64,
    /// Spans sent in the drop test.
    #[arg(long, default_value_t = 1_000_000)]
    paced_spans: usize,
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: JourneyBenchArgs) -> anyhow::Result<()> {
    eprintln!(
        "bench journey: storing {} spans, then {} spans at {}/s, then timing journeys…",
        args.spans, args.paced_spans, args.paced_rate
    );
    let options = BenchOptions {
        spans: args.spans,
        paced_rate: args.paced_rate,
        paced_spans: args.paced_spans,
        ..BenchOptions::default()
    };
    let report = tokio::task::spawn_blocking(move || pigeon_journey::bench_with(&options)).await?;
    eprintln!(
        "bench journey: {} spans, ingest {:.0} spans/s, {} dropped at {}/s, journey p99 {:.3} ms, {:.0} bytes/span",
        report.spans,
        report.ingest_spans_per_s,
        report.paced_dropped,
        report.paced_rate,
        report.journey_p99_ms,
        report.bytes_per_span
    );
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}

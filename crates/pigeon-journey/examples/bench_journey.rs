//! Runs the journey store benchmark (the workload behind `pigeon bench journey`) in release
//! mode and prints the report as JSON.
//!
//! Run with `cargo run --release -p pigeon-journey --example bench_journey -- 2000000`
//! (arguments: spans to store, default 1,000,000; spans for the paced drop test at
//! 500,000 spans/s, default 1,000,000).

use pigeon_journey::{BenchOptions, bench_with};

fn main() {
    let mut args = std::env::args().skip(1);
    let spans = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let paced_spans = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let report = bench_with(&BenchOptions {
        spans,
        paced_spans,
        ..BenchOptions::default()
    });
    match serde_json::to_string_pretty(&report) {
        Ok(json) => println!("{json}"),
        Err(e) => eprintln!("cannot print the report: {e}"),
    }
}

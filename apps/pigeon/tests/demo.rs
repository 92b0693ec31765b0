//! `pigeon demo orders` as a newcomer runs it: the pipeline runs, the report names every step.
#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn the_order_demo_shows_where_the_time_goes_and_one_journey() {
    let out = Command::new(env!("CARGO_BIN_EXE_pigeon"))
        .args([
            "demo",
            "orders",
            "--seconds",
            "2",
            "--every",
            "100ms",
            "--slow",
            "inventory=50ms",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Where the time goes"), "{text}");
    for step in [
        "place-order",
        "validate-address",
        "validate-name",
        "validate-inventory",
        "cook",
        "process orders.kitchen",
    ] {
        assert!(text.contains(step), "{step} missing: {text}");
    }
    for service in ["website-ordering", "order-validation", "kitchen-service"] {
        assert!(text.contains(service), "{service} missing: {text}");
    }
    assert!(text.contains("One order, end to end"), "{text}");
    assert!(text.contains("(queued"), "queue time per bus hop: {text}");
}

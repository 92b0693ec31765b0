//! `orders all --bus memory` as a user runs it: every seed log line carries its service, the
//! order id and the trace id, and an order keeps one trace id from placing to "ready".
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::process::{Command, Stdio};

#[test]
fn one_process_logs_carry_service_order_id_and_one_trace_per_order() {
    let output = Command::new(env!("CARGO_BIN_EXE_orders"))
        .args([
            "all",
            "--bus",
            "memory",
            "--orders",
            "3",
            "--time-scale",
            "0.01",
        ])
        .args([
            "--website-every",
            "20ms",
            "--onsite-every",
            "25ms",
            "--direct-every",
            "30ms",
        ])
        .args(["--run-for", "3s"])
        .env("OTEL_TRACES_EXPORTER", "none")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_SERVICE_NAME")
        .env("PIGEON_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");

    // order id -> (trace id, services that logged about it)
    let mut orders: HashMap<String, (String, Vec<String>)> = HashMap::new();
    let mut ready = 0;
    for line in stderr.lines() {
        let Ok(json) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(order_id) = json["fields"]["order_id"].as_str() else {
            continue;
        };
        let message = json["fields"]["message"].as_str().unwrap();
        // The seed's "placed successfully" lines name no order; the order_id field does.
        assert!(
            message.contains(order_id) || message.ends_with("placed successfully!"),
            "{line}"
        );
        let service = json["fields"]["service"].as_str().expect("service field");
        let trace_id = json["trace_id"]
            .as_str()
            .expect("trace_id on every order line");
        let entry = orders
            .entry(order_id.to_owned())
            .or_insert_with(|| (trace_id.to_owned(), Vec::new()));
        assert_eq!(entry.0, trace_id, "order {order_id} changed traces: {line}");
        entry.1.push(service.to_owned());
        ready += usize::from(message.starts_with("Your order is ready"));
    }
    assert_eq!(orders.len(), 9, "three orders from each ordering service");
    assert_eq!(ready, 9, "every order was cooked:\n{stderr}");
    for (order_id, (_, services)) in &orders {
        assert!(
            services.iter().any(|s| s == "kitchen-service"),
            "{order_id}"
        );
        let validated = services.iter().any(|s| s == "order-validation");
        let direct = services.iter().any(|s| s == "direct-kitchen-ordering");
        assert!(validated != direct, "{order_id}: {services:?}");
    }
}

//! `messaging.deliver` carries its delivery's outcome, as seed 000 has it: `delivery.method`,
//! `delivery.success` and `delivery.latency_ms`, set once the outcome is known — the device's
//! ack over its WebSocket, or the push service's answer after the ack timeout, or no push
//! target at all — and the span lasts until then. Real server on loopback, real WebSockets, a
//! real webhook receiver on 127.0.0.1; spans from the SDK's in-memory exporter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use opentelemetry::trace::{TraceContextExt as _, TraceId, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Client, JsonBody as _, Server, push_to_webhook, register, start, trace_to_memory};
use tokio_tungstenite::tungstenite::Message as Ws;

const ACK_TIMEOUT: Duration = Duration::from_millis(400);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Spans {
    provider: SdkTracerProvider,
    exporter: InMemorySpanExporter,
}

impl Spans {
    /// The finished span `name` of trace `trace` (within 10 s).
    async fn wait_for(&self, trace: TraceId, name: &str) -> SpanData {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            self.provider.force_flush().unwrap();
            let found = self
                .exporter
                .get_finished_spans()
                .unwrap()
                .into_iter()
                .find(|s| s.name == name && s.span_context.trace_id() == trace);
            if let Some(span) = found {
                return span;
            }
            assert!(std::time::Instant::now() < deadline, "no {name} in 10 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

/// `delivery.latency_ms` of a `messaging.deliver`, and the method and success beside it.
fn outcome(deliver: &SpanData) -> (Option<String>, Option<String>, f64) {
    let latency = attr(deliver, "delivery.latency_ms")
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("delivery.latency_ms on {:?}", deliver.attributes));
    assert_eq!(
        deliver
            .attributes
            .iter()
            .filter(|kv| kv.key.as_str() == "delivery.method")
            .count(),
        1,
        "one delivery.method: {:?}",
        deliver.attributes
    );
    (
        attr(deliver, "delivery.method"),
        attr(deliver, "delivery.success"),
        latency,
    )
}

/// Sends a message from `from` to `to` over HTTP in a client trace of its own; returns the
/// trace and the message id.
async fn send(server: &Server, spans: &Spans, from: &Client, to: &Client) -> (TraceId, String) {
    let client_span = spans.provider.tracer("client").start("messaging.send");
    let sc = opentelemetry::Context::current_with_span(client_span)
        .span()
        .span_context()
        .clone();
    let response = server
        .http
        .post(format!("{}/v1/messages", server.base))
        .header("authorization", format!("Bearer {}", from.token))
        .header("traceparent", format!("00-{}-{}-01", sc.trace_id(), sc.span_id()))
        .json_body(&json!({"client_msg_id": format!("m-{}", sc.span_id()), "recipient": to.user_id, "ciphertexts": [
            {"device": {"user_id": to.user_id, "device_id": to.device_id}, "message_type": "normal", "body": "AAAA"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    (
        sc.trace_id(),
        body["message_id"].as_str().unwrap().to_owned(),
    )
}

async fn connect(server: &Server, client: &Client) -> Socket {
    let url = format!("{}?access_token={}", server.ws, client.token);
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// The next `deliver` frame (within 10 s).
async fn next_delivery(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s")
            .unwrap()
            .unwrap();
        let frame: Value = serde_json::from_str(frame.to_text().unwrap()).unwrap();
        if frame["type"] == "deliver" {
            return frame;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messaging_deliver_ends_with_the_outcome() {
    let (provider, exporter) = trace_to_memory();
    let spans = Spans { provider, exporter };

    let server = start(pigeon_dm::DmConfig {
        ack_timeout: ACK_TIMEOUT,
        ..pigeon_dm::DmConfig::default()
    })
    .await;
    let alice = register(&server, "alice").await;
    let bob = register(&server, "bob").await;
    let carol = register(&server, "carol").await;
    let pushes = push_to_webhook(&server, &bob).await;

    // Acked over the socket: delivered by WebSocket, and the span lasts until the ack.
    let mut bob_ws = connect(&server, &bob).await;
    let (trace, message_id) = send(&server, &spans, &alice, &bob).await;
    let frame = next_delivery(&mut bob_ws).await;
    assert_eq!(frame["entry"]["message_id"], message_id.as_str());
    let held = Duration::from_millis(150);
    tokio::time::sleep(held).await;
    let ack = json!({"type": "ack", "seq": frame["entry"]["seq"]}).to_string();
    bob_ws.send(Ws::text(ack)).await.unwrap();
    let deliver = spans.wait_for(trace, "messaging.deliver").await;
    let (method, success, latency) = outcome(&deliver);
    assert_eq!(method.as_deref(), Some("websocket"));
    assert_eq!(success.as_deref(), Some("true"));
    assert!(
        latency >= held.as_secs_f64() * 1e3,
        "{latency} ms: from the routing to the ack, which came {held:?} after the frame"
    );
    let route = spans.wait_for(trace, "messaging.route_delivery").await;
    assert_eq!(route.parent_span_id, deliver.span_context.span_id());
    let frame_span = spans.wait_for(trace, "messaging.deliver_websocket").await;
    assert_eq!(frame_span.parent_span_id, route.span_context.span_id());
    assert_eq!(
        attr(&frame_span, "websocket.ack_received").as_deref(),
        Some("true")
    );
    assert!(
        deliver.end_time >= frame_span.end_time,
        "messaging.deliver ends with the ack, after its frame's span"
    );
    assert_eq!(attr(&deliver, "message.id"), Some(message_id));

    // Never acked: pushed at the ack timeout, delivered by push.
    let (trace, message_id) = send(&server, &spans, &alice, &bob).await;
    let frame = next_delivery(&mut bob_ws).await;
    assert_eq!(frame["entry"]["message_id"], message_id.as_str());
    let deliver = spans.wait_for(trace, "messaging.deliver").await;
    let (method, success, latency) = outcome(&deliver);
    assert_eq!(method.as_deref(), Some("push"));
    assert_eq!(success.as_deref(), Some("true"));
    assert!(
        latency >= ACK_TIMEOUT.as_secs_f64() * 1e3,
        "{latency} ms: the push comes after the ack timeout"
    );
    assert!(
        pushes
            .lock()
            .unwrap()
            .iter()
            .any(|p| p["message_id"] == message_id.as_str()),
        "the push the span reports went out"
    );
    let push = spans.wait_for(trace, "messaging.deliver_push").await;
    assert_eq!(attr(&push, "push.success").as_deref(), Some("true"));
    assert!(deliver.end_time >= push.end_time);

    // Offline, and nowhere to push: not delivered; the message waits in the mailbox.
    let (trace, message_id) = send(&server, &spans, &alice, &carol).await;
    let deliver = spans.wait_for(trace, "messaging.deliver").await;
    let (method, success, _) = outcome(&deliver);
    assert_eq!(method.as_deref(), Some("push"));
    assert_eq!(success.as_deref(), Some("false"));
    let mailbox = support::mailbox(&server, &carol).await;
    assert!(
        mailbox
            .iter()
            .any(|e| e["message_id"] == message_id.as_str()),
        "{mailbox:?}"
    );
}

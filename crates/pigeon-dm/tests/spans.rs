//! The server continues the client's trace: the HTTP SERVER span is a child of the request's
//! `traceparent`, and `messaging.persist` (with the seed's attributes) is its child. A delivery
//! long after the send (here: the recipient connects later) starts a trace of its own, linked
//! to `messaging.persist`, so no trace stays open for hours and the journey still joins. A
//! send over the socket continues the `traceparent` of its frame, and with both devices
//! connected the delivery receipt's way back to the sender stays in the message's trace.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use opentelemetry::trace::{SpanKind, TraceContextExt as _, Tracer as _, TracerProvider as _};
use reqwest::StatusCode;
use serde_json::json;
use support::{JsonBody as _, register, start, trace_to_memory};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next frame of type `kind` (within 10 s), skipping others.
async fn next_of_type(socket: &mut Socket, kind: &str) -> serde_json::Value {
    use futures::StreamExt as _;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let frame = tokio::time::timeout_at(deadline.into(), socket.next())
            .await
            .unwrap_or_else(|_| panic!("a {kind} frame within 10 s"))
            .unwrap()
            .unwrap();
        let frame: serde_json::Value =
            serde_json::from_str(frame.to_text().unwrap_or("{}")).unwrap();
        if frame["type"] == kind {
            return frame;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_continues_the_clients_trace() {
    let (provider, exporter) = trace_to_memory();

    let server = start(pigeon_dm::DmConfig::default()).await;
    let alice = register(&server, "alice").await;
    let bob = register(&server, "bob").await;

    // The client's own span, sent along as traceparent.
    let client_span = provider.tracer("client").start("messaging.send");
    let cx = opentelemetry::Context::current_with_span(client_span);
    let sc = cx.span().span_context().clone();
    let traceparent = format!("00-{}-{}-01", sc.trace_id(), sc.span_id());
    let response = server
        .http
        .post(format!("{}/v1/messages", server.base))
        .header("authorization", format!("Bearer {}", alice.token))
        .header("traceparent", traceparent)
        .json_body(&json!({"client_msg_id": "t", "recipient": bob.user_id, "ciphertexts": [
            {"device": {"user_id": bob.user_id, "device_id": bob.device_id}, "message_type": "normal", "body": "AAAA"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let message_id = serde_json::from_str::<serde_json::Value>(&response.text().await.unwrap())
        .unwrap()["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    provider.force_flush().unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    let server_span = spans
        .iter()
        .find(|s| s.name == "POST /v1/messages" && s.span_context.trace_id() == sc.trace_id())
        .expect("the server span, in the client's trace");
    assert_eq!(server_span.parent_span_id, sc.span_id());
    assert_eq!(server_span.span_kind, SpanKind::Server);
    let persist = spans
        .iter()
        .find(|s| s.name == "messaging.persist" && s.span_context.trace_id() == sc.trace_id())
        .expect("messaging.persist");
    assert_eq!(persist.parent_span_id, server_span.span_context.span_id());
    let attr = |k: &str| {
        persist
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == k)
            .map(|kv| kv.value.to_string())
    };
    assert_eq!(attr("db.system").as_deref(), Some("sqlite"));
    assert_eq!(attr("db.operation").as_deref(), Some("INSERT"));
    assert_eq!(attr("persist.success").as_deref(), Some("true"));
    assert_eq!(attr("message.id"), Some(message_id.clone()));

    // Bob was offline: he connects now and the message is resent from his mailbox.
    let url = format!("{}?access_token={}", server.ws, bob.token);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let seq = next_of_type(&mut socket, "deliver").await["entry"]["seq"]
        .as_u64()
        .unwrap();
    {
        use futures::SinkExt as _;
        let ack = json!({"type": "ack", "seq": seq}).to_string();
        socket
            .send(tokio_tungstenite::tungstenite::Message::text(ack))
            .await
            .unwrap();
    }
    // The receipt reaches alice's mailbox once the ack is committed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !server
        .http
        .get(format!("{}/v1/mailbox", server.base))
        .header("authorization", format!("Bearer {}", alice.token))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .contains("delivery_receipt")
    {
        assert!(std::time::Instant::now() < deadline, "no receipt in 10 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop(socket);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let late = spans
        .iter()
        .find(|s| {
            s.name == "messaging.deliver_websocket"
                && s.attributes
                    .iter()
                    .any(|kv| kv.key.as_str() == "message.id" && kv.value.to_string() == message_id)
        })
        .expect("messaging.deliver_websocket");
    assert_ne!(
        late.span_context.trace_id(),
        sc.trace_id(),
        "a trace of its own"
    );
    assert_eq!(late.parent_span_id, opentelemetry::trace::SpanId::INVALID);
    let links: Vec<_> = late
        .links
        .iter()
        .map(|l| (l.span_context.trace_id(), l.span_context.span_id()))
        .collect();
    assert_eq!(
        links,
        vec![(sc.trace_id(), persist.span_context.span_id())],
        "linked to the span that stored the message"
    );
    // Bob's ack: the receipt is recorded under the delivery's span, in its trace.
    let receipt = spans
        .iter()
        .find(|s| s.name == "messaging.delivery_receipt")
        .expect("messaging.delivery_receipt");
    assert_eq!(receipt.parent_span_id, late.span_context.span_id());
    assert_eq!(
        receipt.span_context.trace_id(),
        late.span_context.trace_id()
    );
    assert!(
        receipt
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "message.id" && kv.value.to_string() == message_id)
    );
    let update = spans
        .iter()
        .find(|s| s.name == "messaging.delivery_receipt.update")
        .expect("messaging.delivery_receipt.update");
    assert_eq!(update.parent_span_id, receipt.span_context.span_id());
    assert!(update.start_time >= receipt.start_time && update.end_time <= receipt.end_time);

    // A send over the socket continues the trace its frame names: `messaging.persist` is a
    // child of the client's span itself (no HTTP request in between).
    let client_span = provider.tracer("client").start("messaging.send");
    let cx = opentelemetry::Context::current_with_span(client_span);
    let sc = cx.span().span_context().clone();
    let url = format!("{}?access_token={}", server.ws, alice.token);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let frame = json!({"type": "send", "id": 1, "traceparent": format!("00-{}-{}-01", sc.trace_id(), sc.span_id()),
        "message": {"client_msg_id": "over-ws", "recipient": bob.user_id, "ciphertexts": [
            {"device": {"user_id": bob.user_id, "device_id": bob.device_id}, "message_type": "normal", "body": "AAAA"}]}});
    {
        use futures::SinkExt as _;
        socket
            .send(tokio_tungstenite::tungstenite::Message::text(
                frame.to_string(),
            ))
            .await
            .unwrap();
    }
    let sent = next_of_type(&mut socket, "sent").await;
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let persist = spans
        .iter()
        .find(|s| s.name == "messaging.persist" && s.span_context.trace_id() == sc.trace_id())
        .expect("messaging.persist in the frame's trace");
    assert_eq!(persist.parent_span_id, sc.span_id());
    assert!(
        persist
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "message.id"
                && kv.value.to_string() == sent["result"]["message_id"].as_str().unwrap())
    );

    // Both connected: the receipt comes back to alice live, and its delivery stays in the
    // message's trace, under the `.notify` of bob's `messaging.delivery_receipt`.
    let url = format!("{}?access_token={}", server.ws, bob.token);
    let (mut bob_socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let seq = next_of_type(&mut bob_socket, "deliver").await["entry"]["seq"]
        .as_u64()
        .unwrap();
    send_frame(&mut bob_socket, json!({"type": "ack", "seq": seq})).await;
    // Its receipt first: a session woken for it could read the next receipt too, before that
    // one's trace context reached it (it would then go out in a trace of its own).
    let first_id = sent["result"]["message_id"].as_str().unwrap();
    next_receipt(&mut socket, first_id).await;
    let client_span = provider.tracer("client").start("messaging.send");
    let cx = opentelemetry::Context::current_with_span(client_span);
    let sc = cx.span().span_context().clone();
    send_frame(&mut socket, json!({"type": "send", "id": 2, "traceparent": format!("00-{}-{}-01", sc.trace_id(), sc.span_id()),
        "message": {"client_msg_id": "live", "recipient": bob.user_id, "ciphertexts": [
            {"device": {"user_id": bob.user_id, "device_id": bob.device_id}, "message_type": "normal", "body": "AAAA"}]}})).await;
    let message_id = loop {
        let sent = next_of_type(&mut socket, "sent").await;
        if sent["id"] == 2 {
            break sent["result"]["message_id"].as_str().unwrap().to_owned();
        }
    };
    let delivered = next_of_type(&mut bob_socket, "deliver").await;
    assert_eq!(delivered["entry"]["message_id"], message_id.as_str());
    let seq = delivered["entry"]["seq"].as_u64().unwrap();
    send_frame(&mut bob_socket, json!({"type": "ack", "seq": seq})).await;
    let receipt_frame = next_receipt(&mut socket, &message_id).await;
    let traceparent = receipt_frame["traceparent"].as_str().unwrap();
    assert!(
        traceparent.contains(&sc.trace_id().to_string()),
        "{traceparent}: the receipt's delivery continues the message's trace"
    );
    let in_trace = |name: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            provider.force_flush().unwrap();
            let found = exporter
                .get_finished_spans()
                .unwrap()
                .into_iter()
                .find(|s| {
                    s.name == name
                        && s.span_context.trace_id() == sc.trace_id()
                        && s.attributes.iter().all(|kv| {
                            kv.key.as_str() != "mailbox.kind"
                                || kv.value.to_string() == "delivery_receipt"
                        })
                });
            if let Some(span) = found {
                return span;
            }
            assert!(std::time::Instant::now() < deadline, "no {name} in 10 s");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    let route = in_trace("messaging.route_delivery");
    assert!(
        route
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "recipient.id" && kv.value.to_string() == bob.user_id),
        "the routing names the recipient: {:?}",
        route.attributes
    );
    let receipt = in_trace("messaging.delivery_receipt");
    let notify = in_trace("messaging.delivery_receipt.notify");
    assert_eq!(notify.parent_span_id, receipt.span_context.span_id());
    assert!(notify.start_time >= receipt.start_time && notify.end_time <= receipt.end_time);
    let back = in_trace("messaging.deliver_websocket");
    assert_eq!(
        back.parent_span_id,
        notify.span_context.span_id(),
        "alice's delivery of the receipt is a child of its `.notify`"
    );
    assert!(
        back.attributes
            .iter()
            .any(|kv| kv.key.as_str() == "message.id" && kv.value.to_string() == message_id)
    );
}

/// The next `deliver` of a delivery receipt for `message_id`, acked.
async fn next_receipt(socket: &mut Socket, message_id: &str) -> serde_json::Value {
    loop {
        let frame = next_of_type(socket, "deliver").await;
        if frame["entry"]["kind"] == "delivery_receipt" {
            let seq = frame["entry"]["seq"].as_u64().unwrap();
            send_frame(socket, json!({"type": "ack", "seq": seq})).await;
            if frame["entry"]["message_id"] == message_id {
                return frame;
            }
        }
    }
}

async fn send_frame(socket: &mut Socket, frame: serde_json::Value) {
    use futures::SinkExt as _;
    socket
        .send(tokio_tungstenite::tungstenite::Message::text(
            frame.to_string(),
        ))
        .await
        .unwrap();
}

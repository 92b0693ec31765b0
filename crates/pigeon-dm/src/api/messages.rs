//! Sending: checks, the per-device rate limit, then one durable commit for every copy — over
//! HTTP (`POST /v1/messages`) and over the live socket (a `send` frame) alike.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use opentelemetry::KeyValue;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{Status, TraceContextExt};
use pigeon_proto::{SendCheckError, SendRequest, SendResponse};
use pigeon_store::{DeviceCopy, DeviceId, UserId};

use crate::auth::Device;
use crate::convert::{envelope_type, id};
use crate::json::ApiJson;
use crate::spans;
use crate::{ApiError, DmState};

pub(super) async fn send(
    State(state): State<DmState>,
    caller: Device,
    ApiJson(request): ApiJson<SendRequest>,
) -> Result<(StatusCode, Json<SendResponse>), ApiError> {
    state.send_limiter().check(&caller.device_id)?;
    let response = accept(&state, &caller, request).await?;
    let status = if response.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(response)))
}

/// Checks `request`, stores it durably for every target device and announces it to the
/// delivery router, under `messaging.persist` (a child of the current context). The caller
/// has taken the send from the device's rate limit.
pub(crate) async fn accept(
    state: &DmState,
    caller: &Device,
    request: SendRequest,
) -> Result<SendResponse, ApiError> {
    request.check(&state.config().limits).map_err(|e| match e {
        SendCheckError::TooLarge { .. } | SendCheckError::TooManyTargets { .. } => {
            ApiError::TooLarge(e.to_string())
        }
        other => ApiError::Invalid(other.to_string()),
    })?;
    let targets = request.ciphertexts.len();
    let bytes: usize = request.ciphertexts.iter().map(|c| c.body.len()).sum();
    let recipient = UserId::from_string(request.recipient.as_str());
    let mut store_request = pigeon_store::SendRequest {
        sender_device: caller.device_id.clone(),
        client_msg_id: request.client_msg_id.to_string(),
        recipient_user: recipient.clone(),
        copies: request
            .ciphertexts
            .into_iter()
            .map(|c| DeviceCopy {
                device_id: DeviceId::from_string(c.device.device_id.as_str()),
                envelope_type: envelope_type(c.message_type),
                ciphertext: c.body,
            })
            .collect(),
        trace_context: None,
    };
    let cx = spans::child(
        "messaging.persist",
        vec![
            KeyValue::new("db.system", state.config().db_system.clone()),
            KeyValue::new("db.operation", "INSERT"),
            KeyValue::new("sender.id", caller.user_id.to_string()),
            KeyValue::new("recipient.id", request.recipient.to_string()),
            KeyValue::new("messaging.batch.message_count", targets as i64),
            KeyValue::new("message.ciphertext_bytes", bytes as i64),
        ],
    );
    // Kept with the message: a delivery long after starts its own trace linked to this span.
    store_request.trace_context = spans::traceparent(&cx);
    let result = state
        .store()
        .send(store_request)
        .with_context(cx.clone())
        .await;
    let span = cx.span();
    span.set_attribute(KeyValue::new("persist.success", result.is_ok()));
    match &result {
        Ok(outcome) => {
            span.set_attribute(KeyValue::new("message.id", outcome.message_id.to_string()));
            span.set_attribute(KeyValue::new("message.duplicate", outcome.duplicate));
        }
        Err(err) => span.set_status(Status::error(err.to_string())),
    }
    span.end();
    let outcome = result?;
    // The notice follows the stored message in its trace, also when the send came without
    // one (a socket frame with no `traceparent`: persist is then a root).
    crate::delivery::announce(
        state,
        &outcome.message_id,
        &caller.user_id,
        &recipient,
        &outcome.seqs,
    )
    .with_context(cx)
    .await;
    Ok(SendResponse {
        message_id: id(outcome.message_id.as_str())?,
        sent_at_ms: outcome.sent_at_ms,
        duplicate: outcome.duplicate,
    })
}

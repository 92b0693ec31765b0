//! Where to push when the device is offline: a Web Push subscription or a webhook.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use pigeon_proto::{PushRegistration, VapidKey};
use pigeon_push::PushSubscription;

use crate::auth::Device;
use crate::json::ApiJson;
use crate::{ApiError, DmState};

pub(super) async fn register(
    State(state): State<DmState>,
    caller: Device,
    ApiJson(registration): ApiJson<PushRegistration>,
) -> Result<StatusCode, ApiError> {
    let subscription = match registration {
        PushRegistration::WebPush {
            endpoint,
            p256dh,
            auth,
        } => PushSubscription::web_push(endpoint, p256dh, auth),
        PushRegistration::Webhook { url, secret } => PushSubscription::webhook(url, secret),
    }
    .map_err(|e| ApiError::Invalid(e.to_string()))?;
    let stored =
        serde_json::to_string(&subscription).map_err(|e| ApiError::Internal(e.to_string()))?;
    state
        .store()
        .set_push_subscription(caller.device_id, stored)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn unregister(
    State(state): State<DmState>,
    caller: Device,
) -> Result<StatusCode, ApiError> {
    state
        .store()
        .delete_push_subscription(caller.device_id, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn vapid(State(state): State<DmState>) -> Result<Json<VapidKey>, ApiError> {
    let public_key = state
        .vapid_public_key()
        .ok_or_else(|| ApiError::NotFound("Web Push is not configured on this server".into()))?;
    Ok(Json(VapidKey {
        public_key: public_key.to_owned(),
    }))
}

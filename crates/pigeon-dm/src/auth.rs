//! [`Device`]: the authenticated caller. A request without a valid token never reaches a
//! handler, and handlers act only for `device` — its mailbox, its sends, its receipts.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use pigeon_store::{DeviceId, DeviceToken, UserId};

use crate::{ApiError, DmState};

/// The device a request comes from.
#[derive(Clone)]
pub(crate) struct Device {
    pub(crate) user_id: UserId,
    pub(crate) device_id: DeviceId,
}

impl FromRequestParts<DmState> for Device {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &DmState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized)?;
        authenticate(state, token).await
    }
}

/// Looks a token up; tokens are 64 hex digits, anything else is refused without a query.
pub(crate) async fn authenticate(state: &DmState, token: &str) -> Result<Device, ApiError> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::Unauthorized);
    }
    if let Some((user_id, device_id)) = state.auth_cache().get(token) {
        return Ok(Device { user_id, device_id });
    }
    let found = state
        .store()
        .authenticate(DeviceToken::from_string(token))
        .await?
        .ok_or(ApiError::Unauthorized)?;
    state
        .auth_cache()
        .put(token, found.user_id.clone(), found.device_id.clone());
    Ok(Device {
        user_id: found.user_id,
        device_id: found.device_id,
    })
}

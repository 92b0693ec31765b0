//! Accounts and devices.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use pigeon_proto::{
    AddDeviceRequest, DeviceInfo, DeviceList, IdentityKeys, RegisterRequest, Registered,
    UserLookup, Username,
};
use pigeon_store::{DeviceId, UserId};
use serde::Deserialize;

use super::check_name;
use crate::auth::Device;
use crate::convert::id;
use crate::json::ApiJson;
use crate::{ApiError, DmState};

pub(super) async fn register(
    State(state): State<DmState>,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    check_name("device_name", &request.device_name)?;
    let account = state
        .store()
        .create_user(request.username.to_string(), request.device_name)
        .await
        .map_err(|e| match e {
            pigeon_store::StoreError::Conflict(_) => {
                ApiError::Conflict(format!("the username {} is taken", request.username))
            }
            other => other.into(),
        })?;
    Ok((
        StatusCode::CREATED,
        Json(Registered {
            user_id: id(account.user_id.as_str())?,
            device_id: id(account.device_id.as_str())?,
            token: account.token.expose().to_owned(),
        }),
    ))
}

pub(super) async fn add_device(
    State(state): State<DmState>,
    caller: Device,
    ApiJson(request): ApiJson<AddDeviceRequest>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    check_name("device_name", &request.device_name)?;
    let device = state
        .store()
        .add_device(caller.user_id.clone(), request.device_name)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Registered {
            user_id: id(caller.user_id.as_str())?,
            device_id: id(device.device_id.as_str())?,
            token: device.token.expose().to_owned(),
        }),
    ))
}

pub(super) async fn remove_device(
    State(state): State<DmState>,
    caller: Device,
    Path(device_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let device_id = DeviceId::from_string(device_id);
    state.auth_cache().forget_device(&device_id);
    state
        .store()
        .remove_device(caller.user_id, device_id.clone())
        .await
        .map_err(|e| match e {
            pigeon_store::StoreError::NotFound(_) => {
                ApiError::NotFound("no such device of yours".into())
            }
            other => other.into(),
        })?;
    // Again after the removal: a request between the first forget and the removal may have
    // cached the token anew.
    state.auth_cache().forget_device(&device_id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FindUser {
    username: Username,
}

pub(super) async fn find_user(
    State(state): State<DmState>,
    _caller: Device,
    query: Result<Query<FindUser>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<UserLookup>, ApiError> {
    let Query(FindUser { username }) =
        query.map_err(|e| ApiError::Invalid(format!("query: {}", e.body_text())))?;
    let user = state
        .store()
        .user_by_name(username.to_string())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user named {username}")))?;
    Ok(Json(UserLookup {
        user_id: id(user.as_str())?,
        username,
    }))
}

pub(super) async fn list_devices(
    State(state): State<DmState>,
    _caller: Device,
    Path(user_id): Path<String>,
) -> Result<Json<DeviceList>, ApiError> {
    let user = UserId::from_string(user_id);
    let devices = state.store().devices(user.clone()).await?;
    let mut out = Vec::with_capacity(devices.len());
    for device in devices {
        let keys = match state
            .store()
            .identity_keys(device.device_id.clone())
            .await?
        {
            Some(json) => Some(serde_json::from_str::<IdentityKeys>(&json).map_err(|e| {
                ApiError::Internal(format!("stored identity keys are not valid: {e}"))
            })?),
            None => None,
        };
        out.push(DeviceInfo {
            device_id: id(device.device_id.as_str())?,
            name: device.name,
            keys,
        });
    }
    Ok(Json(DeviceList {
        user_id: id(user.as_str())?,
        devices: out,
    }))
}

//! The Olm key directory: uploads and claims. The server stores keys and signatures as given;
//! clients verify signatures against the device's ed25519 key.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use pigeon_proto::{
    ClaimRequest, ClaimResponse, ClaimedKey, IdentityKeys, KeyCount, SignedKey, UploadKeysRequest,
    is_base64,
};
use pigeon_store::{DeviceId, KeyUpload, UserId};

use crate::auth::Device;
use crate::convert::{claimed_key, signed_key};
use crate::json::ApiJson;
use crate::{ApiError, DmState};

pub(super) async fn upload(
    State(state): State<DmState>,
    caller: Device,
    ApiJson(request): ApiJson<UploadKeysRequest>,
) -> Result<Json<KeyCount>, ApiError> {
    let max = state.config().limits.max_keys_per_upload;
    if request.one_time_keys.len() > max {
        return Err(ApiError::Invalid(format!(
            "at most {max} one-time keys per upload"
        )));
    }
    if let Some(identity) = &request.identity {
        check_identity(identity)?;
    }
    for key in &request.one_time_keys {
        check_key(key, false)?;
    }
    if let Some(key) = &request.fallback_key {
        check_key(key, true)?;
    }
    let identity = request
        .identity
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let upload = KeyUpload {
        identity,
        one_time_keys: request.one_time_keys.into_iter().map(signed_key).collect(),
        fallback: request.fallback_key.map(signed_key),
    };
    let count = state.store().upload_keys(caller.device_id, upload).await?;
    Ok(Json(KeyCount {
        one_time_key_count: count,
    }))
}

fn check_identity(keys: &IdentityKeys) -> Result<(), ApiError> {
    for (field, value) in [
        ("identity.curve25519", &keys.curve25519),
        ("identity.ed25519", &keys.ed25519),
        ("identity.signature", &keys.signature),
    ] {
        if !is_base64(value) || value.len() > 256 {
            return Err(ApiError::Invalid(format!("{field} is not a base64 key")));
        }
    }
    Ok(())
}

fn check_key(key: &SignedKey, fallback: bool) -> Result<(), ApiError> {
    let id_ok = !key.key_id.is_empty()
        && key.key_id.len() <= 64
        && key
            .key_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=_-".contains(&b));
    if !id_ok {
        return Err(ApiError::Invalid(format!(
            "key id {:?} is not valid",
            key.key_id
        )));
    }
    if key.fallback != fallback {
        return Err(ApiError::Invalid(format!(
            "key {} must have fallback: {fallback} here",
            key.key_id
        )));
    }
    if !is_base64(&key.public_key) || key.public_key.len() > 256 {
        return Err(ApiError::Invalid(format!(
            "key {}: public_key is not base64",
            key.key_id
        )));
    }
    if !is_base64(&key.signature) || key.signature.len() > 256 {
        return Err(ApiError::Invalid(format!(
            "key {}: signature is not base64",
            key.key_id
        )));
    }
    Ok(())
}

pub(super) async fn claim(
    State(state): State<DmState>,
    _caller: Device,
    ApiJson(request): ApiJson<ClaimRequest>,
) -> Result<Json<ClaimResponse>, ApiError> {
    let max = state.config().limits.max_targets;
    if request.devices.len() > max {
        return Err(ApiError::Invalid(format!(
            "at most {max} devices per claim"
        )));
    }
    let store = state.store();
    let mut current: HashMap<String, Vec<DeviceId>> = HashMap::new();
    let mut response = ClaimResponse {
        keys: Vec::new(),
        missing: Vec::new(),
    };
    for device in request.devices {
        let user = device.user_id.as_str().to_owned();
        if !current.contains_key(&user) {
            let devices = store.devices(UserId::from_string(user.clone())).await?;
            current.insert(
                user.clone(),
                devices.into_iter().map(|d| d.device_id).collect(),
            );
        }
        let device_id = DeviceId::from_string(device.device_id.as_str());
        if !current.get(&user).is_some_and(|d| d.contains(&device_id)) {
            return Err(ApiError::NotFound(format!(
                "{} is not a current device of user {}",
                device.device_id, device.user_id
            )));
        }
        let identity = store.identity_keys(device_id.clone()).await?;
        let key = match identity {
            Some(_) => store.claim_key(device_id).await?,
            None => None,
        };
        match (identity, key) {
            (Some(identity), Some(key)) => response.keys.push(ClaimedKey {
                device,
                identity: serde_json::from_str(&identity)
                    .map_err(|e| ApiError::Internal(format!("stored identity keys: {e}")))?,
                key: claimed_key(key),
            }),
            _ => response.missing.push(device),
        }
    }
    Ok(Json(response))
}

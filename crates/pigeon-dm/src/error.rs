//! [`ApiError`]: every failure of the API, and the one place it becomes a status and a code.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pigeon_proto::{ErrorBody, ErrorCode};
use pigeon_store::{SendError, StoreError};

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON of the expected shape (400 `malformed`).
    #[error("{0}")]
    Malformed(String),
    /// A value is out of range or of the wrong form (400 `invalid`).
    #[error("{0}")]
    Invalid(String),
    /// No, or an unknown, token (401).
    #[error("a valid device token is required: Authorization: Bearer <token>")]
    Unauthorized,
    /// Authenticated but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// Unknown user, device, message or path (404).
    #[error("{0}")]
    NotFound(String),
    /// A taken username (409 `conflict`).
    #[error("{0}")]
    Conflict(String),
    /// The send's device set is not the current one (409 `stale_devices`).
    #[error("the target devices are not the current ones; refresh devices and retry")]
    StaleDevices(pigeon_proto::StaleDevices),
    /// Over a size limit (413).
    #[error("{0}")]
    TooLarge(String),
    /// The body is not `application/json` (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Too many requests (429, `Retry-After` seconds).
    #[error("too many requests; retry after {retry_after_s} s")]
    RateLimited {
        /// Seconds to wait.
        retry_after_s: u64,
    },
    /// The server failed (500); details are logged, not returned.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The status and the error body this error answers with, over HTTP or in a frame.
    pub(crate) fn status_and_body(&self) -> (StatusCode, ErrorBody) {
        let (status, code) = self.status_and_code();
        if let Self::Internal(detail) = self {
            tracing::error!(%detail, "request failed");
        }
        let mut body = ErrorBody::new(code, self.to_string());
        if let Self::StaleDevices(current) = self {
            body.details = serde_json::to_value(current).ok();
        }
        (status, body)
    }

    fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            Self::Malformed(_) => (StatusCode::BAD_REQUEST, ErrorCode::Malformed),
            Self::Invalid(_) => (StatusCode::BAD_REQUEST, ErrorCode::Invalid),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            Self::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::Conflict),
            Self::StaleDevices(_) => (StatusCode::CONFLICT, ErrorCode::StaleDevices),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooLarge),
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorCode::Malformed)
            }
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = self.status_and_body();
        let mut response = (status, axum::Json(body)).into_response();
        match &self {
            Self::RateLimited { retry_after_s } => {
                if let Ok(value) = HeaderValue::from_str(&retry_after_s.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
            }
            Self::Unauthorized => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => Self::NotFound(format!("unknown {what}")),
            StoreError::Conflict(what) => Self::Conflict(what.to_owned()),
            StoreError::Forbidden(what) => Self::Forbidden(what.to_owned()),
            StoreError::Invalid(what) => Self::Invalid(what.to_owned()),
            StoreError::Backend(detail) => Self::Internal(detail),
        }
    }
}

impl From<SendError> for ApiError {
    fn from(err: SendError) -> Self {
        match err {
            SendError::UnknownRecipient => Self::NotFound("unknown recipient".into()),
            SendError::UnknownSender => Self::Unauthorized,
            SendError::StaleDevices(stale) => Self::StaleDevices(crate::convert::stale(&stale)),
            SendError::Invalid(what) => Self::Invalid(what.to_owned()),
            SendError::Store(err) => err.into(),
        }
    }
}

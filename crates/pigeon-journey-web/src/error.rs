//! Errors of the journey API, answered as Pigeon's JSON error body (`{"code", "message"}`) so
//! clients handle them the same way as the DM API's.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pigeon_proto::{ErrorBody, ErrorCode};

/// Why a journey API request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// Nothing in the store answers the request (404 `not_found`).
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed: a bad id or query parameter (400 `invalid`).
    #[error("{0}")]
    Invalid(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            Self::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            Self::Invalid(_) => (StatusCode::BAD_REQUEST, ErrorCode::Invalid),
        };
        (status, Json(ErrorBody::new(code, self.to_string()))).into_response()
    }
}

//! The WebSocket gateway: `GET /v1/ws`.
//!
//! * `registry`: which device has a live session here.
//! * `session`: one task per connection — sends the mailbox in order, takes acks, reads and
//!   pings, and hands unacked messages to push after the ack timeout.
//!
//! Authentication: `Authorization: Bearer <token>`, or `?access_token=` for browsers, which
//! cannot set headers on a WebSocket.

mod registry;
mod session;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::response::Response;
use serde::Deserialize;

pub(crate) use registry::{Hint, Sessions};

use crate::auth::authenticate;
use crate::{ApiError, DmState};

/// Read buffer per connection: small, so an idle connection costs little (larger frames grow
/// it).
const BUFFER: usize = 512;
/// Frames queued before they are written without waiting for a flush: a session flushes
/// after each page of deliveries, so a page goes out in one write, not one per entry.
const WRITE_BATCH: usize = 4096;

#[derive(Deserialize)]
pub(crate) struct WsQuery {
    access_token: Option<String>,
}

pub(crate) async fn upgrade(
    State(state): State<DmState>,
    headers: HeaderMap,
    Query(query): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
        .or(query.access_token)
        .ok_or(ApiError::Unauthorized)?;
    let device = authenticate(&state, token.trim()).await?;
    let max = state.config().limits.max_frame_bytes;
    Ok(ws
        .read_buffer_size(BUFFER)
        .write_buffer_size(WRITE_BATCH)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| session::run(socket, state, device)))
}

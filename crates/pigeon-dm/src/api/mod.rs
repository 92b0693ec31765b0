//! The routes of the API, one module per resource.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/accounts` | register a user and its first device |
//! | `POST /v1/devices`, `DELETE /v1/devices/{id}` | add / remove a device of the caller's user |
//! | `GET /v1/users?username=` , `GET /v1/users/{id}/devices` | find a user; list its devices |
//! | `PUT /v1/keys`, `POST /v1/keys/claim` | upload keys; claim one key per device |
//! | `POST /v1/messages` | send one ciphertext per target device |
//! | `GET /v1/mailbox`, `POST /v1/mailbox/ack` | read and ack the caller's mailbox |
//! | `POST /v1/receipts/read` | "read up to here" |
//! | `PUT`/`DELETE /v1/push`, `GET /v1/push/vapid` | push target; the VAPID public key |
//! | `GET /v1/ws` | the live session (WebSocket) |

mod accounts;
mod keys;
mod mailbox;
mod messages;
mod push;
mod receipts;

pub(crate) use mailbox::acknowledge;
pub(crate) use messages::accept;
pub(crate) use receipts::record_read;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};

use crate::{ApiError, DmState};

/// Every route of the API, as documented in `docs/openapi.yaml`.
pub const ROUTES: &[&str] = &[
    "/v1/accounts",
    "/v1/devices",
    "/v1/devices/{device_id}",
    "/v1/users",
    "/v1/users/{user_id}/devices",
    "/v1/keys",
    "/v1/keys/claim",
    "/v1/messages",
    "/v1/mailbox",
    "/v1/mailbox/ack",
    "/v1/receipts/read",
    "/v1/push",
    "/v1/push/vapid",
    "/v1/ws",
];

/// The API's router, with its state.
pub fn router(state: DmState) -> Router {
    let body_limit = state.config().limits.max_body_bytes;
    Router::new()
        .route("/v1/accounts", post(accounts::register))
        .route("/v1/devices", post(accounts::add_device))
        .route("/v1/devices/{device_id}", delete(accounts::remove_device))
        .route("/v1/users", get(accounts::find_user))
        .route("/v1/users/{user_id}/devices", get(accounts::list_devices))
        .route("/v1/keys", put(keys::upload))
        .route("/v1/keys/claim", post(keys::claim))
        .route("/v1/messages", post(messages::send))
        .route("/v1/mailbox", get(mailbox::fetch))
        .route("/v1/mailbox/ack", post(mailbox::ack))
        .route("/v1/receipts/read", post(receipts::read))
        .route("/v1/push", put(push::register).delete(push::unregister))
        .route("/v1/push/vapid", get(push::vapid))
        .route("/v1/ws", get(crate::gateway::upgrade))
        .route_layer(axum::middleware::from_fn(crate::spans::http_span))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// A display name: 1 to 64 characters, no control characters.
fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    let len = name.chars().count();
    if len == 0 || len > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::Invalid(format!(
            "{what} must be 1 to 64 characters without control characters"
        )));
    }
    Ok(())
}

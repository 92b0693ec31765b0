//! The HTTP surface of `pigeon serve`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use pigeon_bus::Bus;

/// What handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) bus: Bus,
}

/// `/healthz` (the process answers) and `/readyz` (its dependencies answer too).
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(state)
}

async fn ready(State(state): State<AppState>) -> (StatusCode, String) {
    match state.bus.health().await {
        Ok(_) => (StatusCode::OK, "ready\n".into()),
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("bus not ready: {err}\n"),
        ),
    }
}

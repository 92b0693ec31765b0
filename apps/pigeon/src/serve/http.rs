//! The HTTP surface of `pigeon serve` that is the process's own: `/healthz` and `/readyz`.
//! The journey API and UI (`pigeon-journey-web`), the DM API, the OTLP receiver and
//! `/metrics` are merged beside it in `serve`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use pigeon_bus::Bus;

/// `/healthz` (the process answers) and `/readyz` (its dependencies answer too).
pub(crate) fn router(bus: Bus) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(bus)
}

async fn ready(State(bus): State<Bus>) -> (StatusCode, String) {
    match bus.health().await {
        Ok(_) => (StatusCode::OK, "ready\n".into()),
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("bus not ready: {err}\n"),
        ),
    }
}

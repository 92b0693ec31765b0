//! pigeon-journey-web: the journey store over HTTP, so "where is message X and what took so
//! long" has an answer in a browser and for scripts, from any binary that holds a store.
//!
//! [`router`] is the whole surface, state inside, ready to `.merge()` into a server:
//!
//! * the JSON API under `/api/v1/` (`api`): journeys, traces, recent-trace search, latency
//!   per operation, the service graph, stuck journeys — documented in `docs/journey-api.md`;
//! * the web UI at `/ui` (`assets`): hand-written HTML, CSS and JavaScript modules (in `ui/`)
//!   embedded with `include_bytes!`, so `cargo build` alone builds it and the binary needs no
//!   files beside it.
//!
//! Other files, one job each:
//! * `error`: API errors as the JSON error body every Pigeon API answers with;
//! * `lookup`: a journey asked for by trace id (the store indexes message ids, not trace ids).

mod api;
mod assets;
mod error;
mod lookup;

use axum::Router;
use pigeon_journey::JourneyStore;

/// The journey API (`/api/v1/journeys/{id}`, `/api/v1/traces/{trace_id}`, `/api/v1/search`,
/// `/api/v1/latency`, `/api/v1/graph`, `/api/v1/stuck`) and the web UI (`/ui`, `/ui/`,
/// `/ui/assets/...`) over `store`.
pub fn router(store: JourneyStore) -> Router {
    api::router(store).merge(assets::router())
}

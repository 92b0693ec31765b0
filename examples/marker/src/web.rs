//! The marker page and its gateway: `GET /marker/` and its assets, `POST /marker/api/marks`.
//!
//! The page's script (the OpenTelemetry JS SDK, bundled from `web/` by esbuild) is embedded in
//! the binary, so `cargo build` needs no npm. The gateway takes a mark posted by the page and
//! publishes it to `internal` as the child of the browser's `publish-message` span, whose context
//! it reads from the `traceparent` header or, failing that, from the mark's `CorrelationId`
//! field. Marks are JSON objects of at most [`MAX_MARK_BYTES`]; anything else is a 4xx with a
//! JSON error body and nothing is published.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use opentelemetry::Context;
use opentelemetry::context::FutureExt as _;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use pigeon_bus::{Bus, CORRELATION_ID_FIELD, ContextCarrier, CorrelationId, OutgoingMessage};
use serde_json::{Value, json};

use crate::Topics;

/// The largest mark the gateway takes, in bytes.
pub const MAX_MARK_BYTES: usize = 64 * 1024;
/// The longest mark id.
const MAX_ID_LEN: usize = 128;

const INDEX_HTML: &str = include_str!("../assets/index.html");
const MARKER_JS: &str = include_str!("../assets/marker.js");
const MARKER_CSS: &str = include_str!("../assets/marker.css");

/// What the page is told, and where the gateway publishes.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Where the page exports its spans (OTLP/HTTP JSON); relative to the page or absolute.
    /// Default `/v1/traces` (Pigeon's own receiver on the same origin).
    pub otlp_endpoint: String,
    /// How the page carries its trace context to the gateway.
    pub carrier: ContextCarrier,
    /// Where the journey UI is, for the page's links to each mark. Default `/ui/`.
    pub journey_ui: String,
    /// The topics.
    pub topics: Topics,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: "/v1/traces".into(),
            carrier: ContextCarrier::Headers,
            journey_ui: "/ui/".into(),
            topics: Topics::default(),
        }
    }
}

#[derive(Clone)]
struct WebState {
    bus: Bus,
    config: std::sync::Arc<WebConfig>,
}

/// The page at `/marker/` and the gateway at `POST /marker/api/marks`, publishing on `bus`.
pub fn router(bus: Bus, config: WebConfig) -> Router {
    let state = WebState {
        bus,
        config: std::sync::Arc::new(config),
    };
    Router::new()
        .route("/marker", get(|| async { Redirect::permanent("/marker/") }))
        .route(
            "/marker/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/marker/marker.js",
            get(|| async { asset("text/javascript; charset=utf-8", MARKER_JS) }),
        )
        .route(
            "/marker/marker.css",
            get(|| async { asset("text/css; charset=utf-8", MARKER_CSS) }),
        )
        .route("/marker/config.json", get(page_config))
        .route(
            "/marker/api/marks",
            post(create_mark).layer(DefaultBodyLimit::max(MAX_MARK_BYTES)),
        )
        .with_state(state)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn page_config(State(state): State<WebState>) -> Response {
    let config = &state.config;
    axum::Json(json!({
        "service_name": crate::services::MARKER,
        "otlp_endpoint": config.otlp_endpoint,
        "carrier": crate::carrier_name(config.carrier),
        "journey_ui": config.journey_ui,
    }))
    .into_response()
}

fn problem(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = json!({ "error": code, "message": message.into() });
    (status, axum::Json(body)).into_response()
}

async fn create_mark(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "a mark is sent as Content-Type: application/json",
        );
    }
    let mut mark = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(mark)) => mark,
        Ok(_) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid_mark",
                "a mark is a JSON object",
            );
        }
        Err(error) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("invalid JSON: {error}"),
            );
        }
    };
    let id = match mark.get("id") {
        None => uuid::Uuid::now_v7().to_string(),
        Some(Value::String(id)) if !id.is_empty() && id.len() <= MAX_ID_LEN => id.clone(),
        Some(_) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid_mark",
                format!("`id` must be a string of 1 to {MAX_ID_LEN} bytes"),
            );
        }
    };
    mark.insert("id".into(), Value::String(id.clone()));
    let parent = browser_context(&headers, &mark);
    mark.remove(CORRELATION_ID_FIELD);
    let payload = Value::Object(mark).to_string();
    let published = state
        .bus
        .publish(OutgoingMessage::new(&state.config.topics.internal, payload).key(&id))
        .with_context(parent.clone())
        .await;
    let trace_id = parent.span().span_context().trace_id().to_string();
    match published {
        Ok(message_id) => {
            tracing::info!(service = crate::services::GATEWAY, message_id = %id, %trace_id, "mark published");
            (
                StatusCode::ACCEPTED,
                axum::Json(json!({ "id": id, "bus_message_id": message_id.to_string() })),
            )
                .into_response()
        }
        Err(error) => {
            tracing::warn!(service = crate::services::GATEWAY, message_id = %id, %trace_id, %error, "publishing a mark failed");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "bus_unavailable",
                format!("the mark was not published: {error}"),
            )
        }
    }
}

/// The browser's context: the `traceparent` header, else the mark's `CorrelationId` field.
fn browser_context(headers: &HeaderMap, mark: &serde_json::Map<String, Value>) -> Context {
    let propagator = TraceContextPropagator::new();
    let from_headers = propagator.extract(&HeaderExtractor(headers));
    if from_headers.span().span_context().is_valid() {
        return from_headers;
    }
    match mark
        .get(CORRELATION_ID_FIELD)
        .and_then(Value::as_str)
        .map(CorrelationId::parse)
    {
        Some(carrier) => propagator.extract(&carrier),
        None => Context::new(),
    }
}

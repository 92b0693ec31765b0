//! The HTTP surface of `pigeon serve`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use pigeon_bus::Bus;
use pigeon_journey::{JourneyOptions, JourneyStore, TraceId};
use pigeon_proto::{ErrorBody, ErrorCode};

/// What handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) bus: Bus,
    pub(crate) journeys: JourneyStore,
}

/// `/healthz` (the process answers), `/readyz` (its dependencies answer too), and the journey
/// API: `GET /api/v1/journeys/{id}` (every trace carrying a message, order, correlation or
/// trace id, joined into one timeline), `GET /api/v1/traces/{trace_id}`,
/// `GET /api/v1/search?service=&span=&min_ms=&max_ms=&errors=&limit=` (recent traces),
/// `GET /api/v1/latency` (percentiles per service and operation), `GET /api/v1/graph` (the
/// service graph, queue time per bus hop) and `GET /api/v1/stuck?limit=` (journeys that started
/// and never reached their terminal step).
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/api/v1/journeys/{id}", get(journey))
        .route("/api/v1/traces/{trace_id}", get(trace))
        .route("/api/v1/search", get(search))
        .route("/api/v1/latency", get(latency))
        .route("/api/v1/graph", get(graph))
        .route("/api/v1/stuck", get(stuck))
        .with_state(state)
}

type ApiError = (StatusCode, Json<ErrorBody>);

fn not_found(what: String) -> ApiError {
    (
        StatusCode::NOT_FOUND,
        Json(ErrorBody::new(ErrorCode::NotFound, what)),
    )
}

async fn journey(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<pigeon_journey::Journey>, ApiError> {
    let journey = state.journeys.journey(&id, &JourneyOptions::default());
    if journey.spans.is_empty() {
        return Err(not_found(format!("no journey carries the id {id:?}")));
    }
    Ok(Json(journey))
}

async fn trace(
    State(state): State<AppState>,
    Path(trace_id): Path<String>,
) -> Result<Json<Vec<pigeon_journey::SpanRecord>>, ApiError> {
    let id = TraceId::from_hex(&trace_id).map_err(|err| {
        (
            StatusCode::BAD_REQUEST,
            Json(ErrorBody::new(
                ErrorCode::Invalid,
                format!("trace id {trace_id:?}: {err}"),
            )),
        )
    })?;
    let spans = state.journeys.trace(id);
    if spans.is_empty() {
        return Err(not_found(format!("no spans of trace {trace_id}")));
    }
    Ok(Json(spans))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchParams {
    service: Option<String>,
    span: Option<String>,
    min_ms: Option<f64>,
    max_ms: Option<f64>,
    #[serde(default)]
    errors: bool,
    limit: Option<usize>,
}

type Params<T> = Result<axum::extract::Query<T>, axum::extract::rejection::QueryRejection>;

fn params<T>(query: Params<T>) -> Result<T, ApiError> {
    query.map(|q| q.0).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            Json(ErrorBody::new(
                ErrorCode::Invalid,
                format!("query: {}", e.body_text()),
            )),
        )
    })
}

async fn search(
    State(state): State<AppState>,
    query: Params<SearchParams>,
) -> Result<Json<Vec<pigeon_journey::TraceSummary>>, ApiError> {
    let p = params(query)?;
    let nanos = |ms: Option<f64>| ms.map(|ms| (ms.max(0.0) * 1e6) as u64);
    let q = pigeon_journey::TraceQuery {
        service: p.service,
        span_name: p.span,
        min_duration_ns: nanos(p.min_ms),
        max_duration_ns: nanos(p.max_ms),
        errors_only: p.errors,
        limit: p.limit.unwrap_or(20).clamp(1, 1000),
        ..pigeon_journey::TraceQuery::default()
    };
    Ok(Json(state.journeys.search(&q)))
}

async fn latency(State(state): State<AppState>) -> Json<Vec<pigeon_journey::LatencyStats>> {
    Json(state.journeys.latency(pigeon_journey::TimeRange::default()))
}

async fn graph(State(state): State<AppState>) -> Json<pigeon_journey::ServiceGraph> {
    Json(
        state
            .journeys
            .service_graph(pigeon_journey::TimeRange::default()),
    )
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StuckParams {
    limit: Option<usize>,
}

async fn stuck(
    State(state): State<AppState>,
    query: Params<StuckParams>,
) -> Result<Json<Vec<pigeon_journey::StuckJourney>>, ApiError> {
    let p = params(query)?;
    let rules = pigeon_journey::FlowRule::defaults();
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(state.journeys.stuck(
        &rules,
        pigeon_journey::now_unix_nano(),
        limit,
    )))
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

#[cfg(test)]
mod tests {
    use pigeon_bus::MemoryBackend;
    use pigeon_journey::{AttrValue, KeyValue, SpanId, SpanKind, SpanRecord, Status};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    fn span(trace: u8, id: u8, name: &str) -> SpanRecord {
        SpanRecord {
            trace_id: TraceId([trace; 16]),
            span_id: SpanId([id; 8]),
            parent_span_id: None,
            name: name.into(),
            kind: SpanKind::Internal,
            service: "pigeon".into(),
            start_unix_nano: pigeon_journey::now_unix_nano(),
            end_unix_nano: pigeon_journey::now_unix_nano(),
            status: Status::Unset,
            attributes: vec![KeyValue::new("message.id", AttrValue::Str("m-1".into()))],
            events: Vec::new(),
            links: Vec::new(),
            resource: Vec::new(),
        }
    }

    async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, serde_json::Value) {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
        (
            status,
            serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
        )
    }

    #[tokio::test]
    async fn journeys_and_traces_are_served_as_json_with_precise_errors() {
        let journeys = JourneyStore::in_memory();
        journeys.ingest(vec![
            span(1, 1, "messaging.send"),
            span(1, 2, "messaging.persist"),
        ]);
        journeys.drain().unwrap();
        let state = AppState {
            bus: Bus::new(MemoryBackend::new()),
            journeys,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router(state)).await });

        let (status, body) = get(addr, "/api/v1/journeys/m-1").await;
        assert_eq!(status, 200);
        assert_eq!(body["spans"].as_array().unwrap().len(), 2);

        let (status, body) = get(addr, "/api/v1/journeys/nobody").await;
        assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));

        let trace_id = TraceId([1; 16]).to_string();
        let (status, body) = get(addr, &format!("/api/v1/traces/{trace_id}")).await;
        assert_eq!(status, 200);
        assert_eq!(body.as_array().unwrap().len(), 2);

        let (status, body) = get(addr, "/api/v1/traces/not-hex").await;
        assert_eq!((status, body["code"].as_str()), (400, Some("invalid")));

        let (status, body) = get(addr, "/api/v1/search?service=pigeon&limit=5").await;
        assert_eq!(status, 200);
        assert_eq!(body.as_array().unwrap().len(), 1, "one trace: {body}");
        let (status, body) = get(addr, "/api/v1/search?limit=many").await;
        assert_eq!((status, body["code"].as_str()), (400, Some("invalid")));
        let (status, body) = get(addr, "/api/v1/latency").await;
        assert_eq!(status, 200);
        let names: Vec<_> = body
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["span_name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"messaging.send") && names.contains(&"messaging.persist"),
            "{body}"
        );
        assert_eq!(get(addr, "/api/v1/graph").await.0, 200);
        let (status, body) = get(addr, "/api/v1/stuck?limit=10").await;
        assert_eq!(status, 200);
        assert!(body.is_array(), "{body}");
    }
}

//! The journey API: JSON answers to "where is message X", "what is slow", "who talks to whom"
//! and "what never arrived", for the web UI, `pigeon trace --server` and scripts.
//! `docs/journey-api.md` documents every route and field.

use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use pigeon_journey::{
    FlowRule, Journey, JourneyStore, LatencyStats, ServiceGraph, SpanRecord, StuckJourney,
    TimeRange, TraceId, TraceQuery, TraceSummary,
};

use crate::error::ApiError;
use crate::lookup;

/// Most traces or stuck journeys one answer lists.
const MAX_LIMIT: usize = 1000;

/// The routes under `/api/v1/`, over `store`.
pub(crate) fn router(store: JourneyStore) -> Router {
    Router::new()
        .route("/api/v1/journeys/{id}", get(journey))
        .route("/api/v1/traces/{trace_id}", get(trace))
        .route("/api/v1/search", get(search))
        .route("/api/v1/latency", get(latency))
        .route("/api/v1/graph", get(graph))
        .route("/api/v1/stuck", get(stuck))
        .with_state(store)
}

/// Every trace carrying a message, order, correlation or trace id, joined into one timeline.
async fn journey(
    State(store): State<JourneyStore>,
    Path(id): Path<String>,
) -> Result<Json<Journey>, ApiError> {
    let journey = lookup::journey(&store, &id);
    if journey.spans.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no journey carries the id {id:?}"
        )));
    }
    Ok(Json(journey))
}

async fn trace(
    State(store): State<JourneyStore>,
    Path(trace_id): Path<String>,
) -> Result<Json<Vec<SpanRecord>>, ApiError> {
    let id = TraceId::from_hex(&trace_id)
        .map_err(|err| ApiError::Invalid(format!("trace id {trace_id:?}: {err}")))?;
    let spans = store.trace(id);
    if spans.is_empty() {
        return Err(ApiError::NotFound(format!("no spans of trace {trace_id}")));
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

/// The query string, or a 400 saying what is wrong with it.
fn params<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|q| q.0)
        .map_err(|e| ApiError::Invalid(format!("query: {}", e.body_text())))
}

/// Recent traces with a span matching every filter given, newest first.
async fn search(
    State(store): State<JourneyStore>,
    query: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<Vec<TraceSummary>>, ApiError> {
    let p = params(query)?;
    let nanos = |ms: Option<f64>| ms.map(|ms| (ms.max(0.0) * 1e6) as u64);
    let q = TraceQuery {
        service: p.service.filter(|s| !s.is_empty()),
        span_name: p.span.filter(|s| !s.is_empty()),
        min_duration_ns: nanos(p.min_ms),
        max_duration_ns: nanos(p.max_ms),
        errors_only: p.errors,
        limit: p.limit.unwrap_or(20).clamp(1, MAX_LIMIT),
        ..TraceQuery::default()
    };
    Ok(Json(store.search(&q)))
}

async fn latency(State(store): State<JourneyStore>) -> Json<Vec<LatencyStats>> {
    Json(store.latency(TimeRange::default()))
}

async fn graph(State(store): State<JourneyStore>) -> Json<ServiceGraph> {
    Json(store.service_graph(TimeRange::default()))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StuckParams {
    limit: Option<usize>,
    /// Replaces every flow's deadline: "stuck after this long" as the asker sees it.
    deadline_ms: Option<u64>,
}

/// Journeys that started and missed their terminal step by the flow's deadline.
async fn stuck(
    State(store): State<JourneyStore>,
    query: Result<Query<StuckParams>, QueryRejection>,
) -> Result<Json<Vec<StuckJourney>>, ApiError> {
    let p = params(query)?;
    let mut rules = FlowRule::defaults();
    if let Some(ms) = p.deadline_ms {
        for rule in &mut rules {
            rule.deadline = Duration::from_millis(ms);
        }
    }
    let limit = p.limit.unwrap_or(100).clamp(1, MAX_LIMIT);
    Ok(Json(store.stuck(
        &rules,
        pigeon_journey::now_unix_nano(),
        limit,
    )))
}

#[cfg(test)]
mod tests {
    use pigeon_journey::{AttrValue, KeyValue, SpanId, SpanKind, SpanRecord, Status};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    fn span(trace: u8, id: u8, name: &str, start: u64) -> SpanRecord {
        SpanRecord {
            trace_id: TraceId([trace; 16]),
            span_id: SpanId([id; 8]),
            parent_span_id: None,
            name: name.into(),
            kind: SpanKind::Internal,
            service: "pigeon".into(),
            start_unix_nano: start,
            end_unix_nano: start,
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
        let now = pigeon_journey::now_unix_nano();
        journeys.ingest(vec![
            span(1, 1, "messaging.send", now - 2_000_000_000),
            span(1, 2, "messaging.persist", now - 1_999_000_000),
        ]);
        journeys.drain().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router(journeys)).await });

        let (status, body) = get(addr, "/api/v1/journeys/m-1").await;
        assert_eq!(status, 200);
        assert_eq!(body["spans"].as_array().unwrap().len(), 2);

        let (status, body) = get(addr, "/api/v1/journeys/nobody").await;
        assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));

        let trace_id = TraceId([1; 16]).to_string();
        let (status, body) = get(addr, &format!("/api/v1/journeys/{trace_id}")).await;
        assert_eq!((status, body["id"].as_str()), (200, Some(&*trace_id)));
        let (status, body) = get(addr, &format!("/api/v1/traces/{trace_id}")).await;
        assert_eq!(status, 200);
        assert_eq!(body.as_array().unwrap().len(), 2);

        let (status, body) = get(addr, "/api/v1/traces/not-hex").await;
        assert_eq!((status, body["code"].as_str()), (400, Some("invalid")));

        let (status, body) = get(addr, "/api/v1/search?service=pigeon&limit=5").await;
        assert_eq!(status, 200);
        assert_eq!(body.as_array().unwrap().len(), 1, "one trace: {body}");
        let (status, body) = get(addr, "/api/v1/search?service=&span=&errors=false").await;
        assert_eq!(status, 200, "empty form fields mean no filter");
        assert_eq!(body.as_array().unwrap().len(), 1, "{body}");
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
        assert_eq!(body, serde_json::json!([]), "within the 30 s deadline");
        let (status, body) = get(addr, "/api/v1/stuck?deadline_ms=1000").await;
        assert_eq!(status, 200);
        assert_eq!(body[0]["flow"], "dm", "a send without receipt: {body}");
        assert_eq!(body[0]["last_step"]["span_name"], "messaging.persist");
        let (status, body) = get(addr, "/api/v1/stuck?deadline_ms=-1").await;
        assert_eq!((status, body["code"].as_str()), (400, Some("invalid")));
    }
}

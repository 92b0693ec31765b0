//! pigeon-otlp: an OTLP/HTTP trace receiver (`POST /v1/traces`) into the journey store.
//!
//! Browsers and services in other languages export their spans here with their own
//! OpenTelemetry SDK; the spans land in the same store as Pigeon's own, so one journey shows
//! every service a message went through.
//!
//! * [`router`]: the axum route; mount it on any server.
//! * `decode`: the body — `application/x-protobuf` or `application/json` (hex ids, as OTLP/JSON
//!   says), optionally `Content-Encoding: gzip`, bounded in size after decompression.
//! * `convert`: OTLP spans → `pigeon_journey::SpanRecord`; spans with invalid ids are rejected
//!   and counted in the answer's `partial_success`, as the OTLP spec asks.

mod convert;
mod decode;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use pigeon_journey::Ingestor;
use prost::Message as _;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use decode::{Encoding, MAX_BODY_BYTES};

/// `POST /v1/traces`, storing into `ingestor`'s journey store.
///
/// Answers CORS preflights from any origin, as a collector's OTLP/HTTP receiver configured for
/// browsers does: a page served elsewhere (the marker page, a web app) exports its spans here.
pub fn router(ingestor: Ingestor) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::CONTENT_ENCODING])
        .max_age(std::time::Duration::from_secs(24 * 3600));
    Router::new()
        .route("/v1/traces", post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(cors)
        .with_state(ingestor)
}

async fn receive(State(ingestor): State<Ingestor>, headers: HeaderMap, body: Bytes) -> Response {
    let (request, encoding) = match decode::request(&headers, &body) {
        Ok(decoded) => decoded,
        Err(err) => return (err.status(), err.to_string()).into_response(),
    };
    let (records, rejected) = convert::records(request);
    let stored = records.len();
    let accepted = ingestor.ingest(records);
    let dropped = stored.saturating_sub(accepted);
    let mut message = String::new();
    if rejected > 0 {
        message = format!("{rejected} spans had invalid trace or span ids");
    }
    if dropped > 0 {
        message = format!("{message} {dropped} spans dropped: the journey store is full")
            .trim()
            .to_owned();
    }
    let response = ExportTraceServiceResponse {
        partial_success: (!message.is_empty()).then(|| ExportTracePartialSuccess {
            rejected_spans: i64::try_from(rejected + dropped).unwrap_or(i64::MAX),
            error_message: message,
        }),
    };
    match encoding {
        Encoding::Protobuf => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            response.encode_to_vec(),
        )
            .into_response(),
        Encoding::Json => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec()),
        )
            .into_response(),
    }
}

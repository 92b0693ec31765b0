//! The request body: content type, encoding, size.

use std::io::Read as _;

use axum::http::{HeaderMap, StatusCode, header};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

/// Largest body accepted, before and after decompression.
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// How the request (and so the answer) is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json`.
    Json,
}

/// Why a body was refused.
#[derive(Debug)]
pub(crate) enum DecodeError {
    UnsupportedType(String),
    UnsupportedEncoding(String),
    TooLarge,
    Gzip(String),
    Malformed(String),
}

impl DecodeError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::UnsupportedType(_) | Self::UnsupportedEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Gzip(_) | Self::Malformed(_) => StatusCode::BAD_REQUEST,
        }
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnsupportedType(t) => write!(
                f,
                "unsupported content type {t:?}: use application/x-protobuf or application/json"
            ),
            Self::UnsupportedEncoding(e) => {
                write!(f, "unsupported content encoding {e:?}: use gzip or none")
            }
            Self::TooLarge => write!(f, "body over {MAX_BODY_BYTES} bytes once decompressed"),
            Self::Gzip(e) => write!(f, "not valid gzip: {e}"),
            Self::Malformed(e) => write!(f, "not an OTLP trace export request: {e}"),
        }
    }
}

pub(crate) fn request(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(ExportTraceServiceRequest, Encoding), DecodeError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let encoding = match content_type.split(';').next().unwrap_or_default().trim() {
        "application/x-protobuf" => Encoding::Protobuf,
        "application/json" => Encoding::Json,
        other => return Err(DecodeError::UnsupportedType(other.to_owned())),
    };
    let unzipped;
    let body = match headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
    {
        None | Some("identity") => body,
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body)
                .take(MAX_BODY_BYTES as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| DecodeError::Gzip(e.to_string()))?;
            if out.len() > MAX_BODY_BYTES {
                return Err(DecodeError::TooLarge);
            }
            unzipped = out;
            &unzipped
        }
        Some(other) => return Err(DecodeError::UnsupportedEncoding(other.to_owned())),
    };
    let request = match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(body)
            .map_err(|e| DecodeError::Malformed(e.to_string()))?,
        Encoding::Json => {
            serde_json::from_slice(body).map_err(|e| DecodeError::Malformed(e.to_string()))?
        }
    };
    Ok((request, encoding))
}

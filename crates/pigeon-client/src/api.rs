//! The HTTP calls, typed with `pigeon-proto`. Each carries the current trace context as
//! `traceparent`, and decodes errors into [`ClientError::Server`] with the server's code.

use std::collections::HashMap;

use opentelemetry::Context;
use opentelemetry::global;
use pigeon_proto::ErrorBody;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ClientError;

/// HTTP access to one server, as one device (or anonymously, to register).
#[derive(Clone)]
pub(crate) struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    pub(crate) fn new(base: &str, token: Option<String>) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            token,
        }
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// A copy of this API acting as another device.
    pub(crate) fn with_token(&self, token: String) -> Self {
        Self {
            token: Some(token),
            ..self.clone()
        }
    }

    pub(crate) async fn get<R: DeserializeOwned>(&self, path: &str) -> Result<R, ClientError> {
        self.call(reqwest::Method::GET, path, None::<&()>).await
    }

    pub(crate) async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, ClientError> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub(crate) async fn put<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, ClientError> {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<R, ClientError> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        for (name, value) in trace_headers(&Context::current()) {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            let json = serde_json::to_vec(body)
                .map_err(|e| ClientError::Protocol(format!("encoding a request: {e}")))?;
            request = request
                .header("content-type", "application/json")
                .body(json);
        }
        let response = request.send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            let body = serde_json::from_slice::<ErrorBody>(&bytes).map_err(|_| {
                ClientError::Protocol(format!(
                    "{status} without an error body: {}",
                    String::from_utf8_lossy(&bytes)
                ))
            })?;
            return Err(ClientError::Server {
                status: status.as_u16(),
                body,
            });
        }
        let bytes = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(bytes)
            .map_err(|e| ClientError::Protocol(format!("unexpected answer to {path}: {e}")))
    }
}

/// W3C trace headers of `cx`, through the global propagator.
pub(crate) fn trace_headers(cx: &Context) -> HashMap<String, String> {
    let mut carrier = HashMap::new();
    global::get_text_map_propagator(|p| p.inject_context(cx, &mut carrier));
    carrier.retain(|_, v| !v.is_empty());
    carrier
}

//! The HTTP client every send shares: hyper over rustls with the `ring` provider.
//!
//! Why not reqwest, which is already in the tree: its rustls backends are `rustls` (which
//! brings aws-lc-rs, a large C build) and `rustls-no-provider`, which, unified into the
//! workspace, would make the OTLP exporter's own reqwest client panic at build unless a
//! process-wide crypto provider were installed. hyper-util + hyper-rustls with `ring` (already
//! in the tree via async-nats) avoids both and touches nobody else's features.
//!
//! Roots come from the operating system's store (so an operator's own CA works for
//! webhooks). HTTP/1.1 only: every push service speaks it, and one push is one request.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::error::PusherBuildError;

pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

pub(crate) fn build(connect_timeout: Duration) -> Result<HttpClient, PusherBuildError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::warn!(%error, "could not load some TLS root certificates");
    }
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        tracing::warn!("no TLS root certificates found: https pushes will fail");
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PusherBuildError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();

    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    let https = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);

    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(https))
}

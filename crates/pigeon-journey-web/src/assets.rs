//! The web UI's files, embedded in the binary so it is served wherever the router is merged,
//! with no build step and nothing to install beside the executable.
//!
//! Names are not content-hashed (there is no bundler), so every answer says `no-cache` with a
//! compile-time ETag: browsers revalidate each load and get a bodiless 304 until the binary
//! changes, and never run a stale UI against a newer API. The page's Content-Security-Policy
//! allows only its own origin, which the UI needs (no CDN, no inline script).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file.
struct Asset {
    /// Its name under `/ui/assets/`.
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    etag: &'static str,
}

/// FNV-1a, at compile time: a cheap, stable fingerprint of each file for its ETag.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// The ETag of `body`: its fingerprint as a quoted hex string.
const fn etag(body: &[u8]) -> [u8; 18] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hash = fnv1a(body);
    let mut out = [b'"'; 18];
    let mut i = 0;
    while i < 16 {
        out[1 + i] = HEX[((hash >> (60 - 4 * i)) & 0xf) as usize];
        i += 1;
    }
    out
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {{
        const BODY: &[u8] = include_bytes!(concat!("../ui/", $name));
        const TAG: [u8; 18] = etag(BODY);
        Asset {
            name: $name,
            content_type: $content_type,
            body: BODY,
            etag: match std::str::from_utf8(&TAG) {
                Ok(tag) => tag,
                Err(_) => panic!("hex digits are UTF-8"),
            },
        }
    }};
}

const JS: &str = "text/javascript; charset=utf-8";

static INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");

static ASSETS: &[Asset] = &[
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("js/app.js", JS),
    asset!("js/api.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/format.js", JS),
    asset!("js/colors.js", JS),
    asset!("js/route.js", JS),
    asset!("js/journey.js", JS),
    asset!("js/waterfall.js", JS),
    asset!("js/detail.js", JS),
    asset!("js/graph.js", JS),
    asset!("js/latency.js", JS),
    asset!("js/stuck.js", JS),
    asset!("js/search.js", JS),
];

/// Only this origin's files and API: no inline script, no CDN, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                   img-src 'self' data:; connect-src 'self'; object-src 'none'; \
                   base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `/ui`, `/ui/` (the page) and `/ui/assets/{name}`.
pub(crate) fn router() -> Router {
    Router::new()
        .route("/ui", get(index))
        .route("/ui/", get(index))
        .route("/ui/assets/{*name}", get(file))
}

async fn index(headers: HeaderMap) -> Response {
    serve(&INDEX, &headers)
}

async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => serve(asset, &headers),
        None => (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    }
}

fn serve(asset: &'static Asset, headers: &HeaderMap) -> Response {
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == asset.etag || t.trim() == "*")
        });
    let common = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, HeaderValue::from_static(asset.etag)),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        )],
        asset.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// Status line and headers of `GET path`, lowercased.
    async fn head(addr: std::net::SocketAddr, path: &str, extra: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response.to_lowercase()
    }

    #[tokio::test]
    async fn pages_and_assets_carry_their_type_and_revalidate_by_etag() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router()).await });

        for path in ["/ui", "/ui/"] {
            let page = head(addr, path, "").await;
            assert!(page.starts_with("http/1.1 200"), "{page}");
            assert!(page.contains("content-type: text/html; charset=utf-8"));
            assert!(page.contains("cache-control: no-cache"));
            assert!(page.contains("content-security-policy: default-src 'self'"));
            assert!(
                page.contains("data-testid=\"search-form\""),
                "the page itself"
            );
        }
        let js = head(addr, "/ui/assets/js/app.js", "").await;
        assert!(js.contains("content-type: text/javascript"), "{js}");
        let tag = ASSETS[2].etag;
        assert_eq!(ASSETS[2].name, "js/app.js");
        assert!(js.contains(&format!("etag: {tag}")), "{js}");
        let again = head(
            addr,
            "/ui/assets/js/app.js",
            &format!("If-None-Match: {tag}\r\n"),
        )
        .await;
        assert!(again.starts_with("http/1.1 304"), "{again}");
        let css = head(addr, "/ui/assets/style.css", "").await;
        assert!(css.contains("content-type: text/css"), "{css}");
        let missing = head(addr, "/ui/assets/../Cargo.toml", "").await;
        assert!(missing.starts_with("http/1.1 404"), "{missing}");
    }

    #[test]
    fn every_asset_has_its_own_fingerprint() {
        assert_eq!(etag(b"").len(), 18);
        assert_ne!(ASSETS[0].etag, ASSETS[1].etag);
        assert!(INDEX.etag.starts_with('"') && INDEX.etag.ends_with('"'));
    }

    #[test]
    fn the_page_loads_only_embedded_modules() {
        let page = std::str::from_utf8(INDEX.body).unwrap();
        for src in page.split("src=\"/ui/assets/").skip(1) {
            let name = &src[..src.find('"').unwrap()];
            assert!(ASSETS.iter().any(|a| a.name == name), "{name} is embedded");
        }
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let text = std::str::from_utf8(asset.body).unwrap();
            for import in text.split("from \"./").skip(1) {
                let name = format!("js/{}", &import[..import.find('"').unwrap()]);
                assert!(
                    ASSETS.iter().any(|a| a.name == name),
                    "{} imports {name}, which is embedded",
                    asset.name
                );
            }
        }
    }
}

//! Shared by the DM API tests: a real server on loopback over a real SQLite file, and test
//! clients with real Olm accounts (pigeon-crypto).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};

use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use pigeon_crypto::{Device, DeviceKeys, SignedOneTimeKey};
use pigeon_dm::{DmConfig, DmState, router};
use pigeon_store::SqliteStore;
use reqwest::StatusCode;
use serde_json::{Value, json};

pub struct Server {
    pub base: String,
    pub ws: String,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
}

pub async fn start(config: DmConfig) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("dm.sqlite"))
        .await
        .unwrap();
    let bus = pigeon_bus::Bus::new(pigeon_bus::MemoryBackend::new());
    let pusher = pigeon_push::Pusher::new(
        pigeon_push::PushConfig::default().with_max_attempts(2),
        pigeon_push::VapidKeys::generate().unwrap(),
    )
    .unwrap();
    let state = DmState::new(Arc::new(store), bus, config, Some(pusher));
    let delivery = pigeon_dm::DeliveryRouter::start(&state).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _delivery = delivery;
        axum::serve(listener, router(state)).await
    });
    Server {
        base: format!("http://{addr}"),
        ws: format!("ws://{addr}/v1/ws"),
        http: reqwest::Client::new(),
        dir,
    }
}

impl Server {
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn raw(
        &self,
        path: &str,
        token: &str,
        content_type: &str,
        body: &str,
    ) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status();
        (
            status,
            serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null),
        )
    }
}

/// A test client's device: its credentials and its Olm account.
pub struct Client {
    pub user_id: String,
    pub device_id: String,
    pub token: String,
    pub olm: Device,
}

pub async fn register(server: &Server, username: &str) -> Client {
    let (status, body) = server
        .call(
            "POST",
            "/v1/accounts",
            None,
            Some(json!({"username": username, "device_name": "phone"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    client_from(body)
}

pub async fn add_device(server: &Server, of: &Client) -> Client {
    let (status, body) = server
        .call(
            "POST",
            "/v1/devices",
            Some(&of.token),
            Some(json!({"device_name": "laptop"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    client_from(body)
}

pub fn client_from(body: Value) -> Client {
    Client {
        user_id: body["user_id"].as_str().unwrap().into(),
        device_id: body["device_id"].as_str().unwrap().into(),
        token: body["token"].as_str().unwrap().into(),
        olm: Device::new(),
    }
}

pub async fn upload_keys(server: &Server, client: &mut Client, count: usize) -> u64 {
    let keys = client.olm.generate_one_time_keys(count);
    let fallback = client.olm.generate_fallback_key();
    let body = json!({
        "identity": client.olm.keys(),
        "one_time_keys": keys,
        "fallback_key": fallback,
    });
    let (status, answer) = server
        .call("PUT", "/v1/keys", Some(&client.token), Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["one_time_key_count"].as_u64().unwrap()
}

/// Claims a key of `to` and encrypts `plaintext` for it (a fresh outbound session).
pub async fn encrypt_for(server: &Server, from: &Client, to: &Client, plaintext: &str) -> Value {
    let (status, claim) = server
        .call(
            "POST",
            "/v1/keys/claim",
            Some(&from.token),
            Some(json!({"devices": [{"user_id": to.user_id, "device_id": to.device_id}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{claim}");
    let claimed = &claim["keys"][0];
    let identity: DeviceKeys = serde_json::from_value(claimed["identity"].clone()).unwrap();
    let key: SignedOneTimeKey = serde_json::from_value(claimed["key"].clone()).unwrap();
    let mut session = from.olm.outbound(&identity, &key).unwrap();
    let encrypted = session.encrypt(plaintext).unwrap();
    json!({
        "device": {"user_id": to.user_id, "device_id": to.device_id},
        "message_type": encrypted.ciphertext.message_type,
        "body": encrypted.ciphertext.body,
    })
}

pub async fn mailbox(server: &Server, client: &Client) -> Vec<Value> {
    let (status, page) = server
        .call(
            "GET",
            "/v1/mailbox?after=0&limit=100",
            Some(&client.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["entries"].as_array().unwrap().clone()
}

/// `reqwest` without its `json` feature: a tiny helper.
pub trait JsonBody {
    fn json_body(self, value: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, value: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(value.to_string())
    }
}

/// Installs, as the process's global tracer provider, one that exports to memory (with the
/// W3C propagator): every span the server makes is then in the test's hands. Once a test
/// binary: the provider is global.
pub fn trace_to_memory() -> (SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    (provider, exporter)
}

/// Registers a fresh [`webhook`] as `client`'s push target; returns the bodies it gets.
pub async fn push_to_webhook(server: &Server, client: &Client) -> Arc<Mutex<Vec<Value>>> {
    let (url, pushes) = webhook().await;
    let (status, body) = server
        .call(
            "PUT",
            "/v1/push",
            Some(&client.token),
            Some(json!({"kind": "webhook", "url": url})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    pushes
}

/// A webhook receiver on loopback that answers 204 and records the JSON bodies it gets;
/// returns its URL and the bodies.
pub async fn webhook() -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let s = s.clone();
            async move {
                s.lock()
                    .unwrap()
                    .push(serde_json::from_str::<Value>(&body).unwrap());
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

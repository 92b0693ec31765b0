//! [`Client`]: one device of one user.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::context::FutureExt as _;
use opentelemetry::global;
use opentelemetry::trace::{Span as _, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use pigeon_crypto::{ALGORITHM, Device, DeviceKeys, PeerDevice, SignedOneTimeKey};
use pigeon_proto::{
    ClaimRequest, ClaimResponse, ClientMsgId, DeviceCiphertext, DeviceList, DeviceRef, ErrorCode,
    KeyCount, MessageType, ReadRequest, ReadResponse, RegisterRequest, Registered, SendRequest,
    SendResponse, UploadKeysRequest, UserLookup,
};

use crate::api::{Api, trace_headers};
use crate::connection::Link;
use crate::crypto::CryptoCell;
use crate::{ClientError, Connection};

/// Below this many one-time keys on the server, [`Client::top_up_keys`] uploads more.
const LOW_KEYS: u64 = 10;
/// How many one-time keys an upload adds.
const KEY_BATCH: usize = 50;
/// How long a send over the socket may wait for its answer before it goes over HTTP.
const SOCKET_SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Who a client is on which server. The token is a secret: keep it like a password.
#[derive(Clone)]
pub struct Credentials {
    /// The server's base URL, e.g. `http://127.0.0.1:7878`.
    pub server: String,
    /// The user.
    pub user_id: String,
    /// This device.
    pub device_id: String,
    /// This device's bearer token.
    pub token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("server", &self.server)
            .field("user_id", &self.user_id)
            .field("device_id", &self.device_id)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// A sent message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The server's id of it.
    pub message_id: String,
    /// True when the server had it already (a retried send).
    pub duplicate: bool,
}

/// One device of one user, with its end-to-end state. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Client {
    pub(crate) api: Api,
    pub(crate) credentials: Credentials,
    pub(crate) crypto: Arc<CryptoCell>,
    /// Target devices per recipient, kept until the server says they are stale (409).
    pub(crate) targets: Arc<Mutex<HashMap<String, Vec<PeerDevice>>>>,
    /// The live connection sends go over, while one is open.
    pub(crate) live: Arc<Mutex<Option<Link>>>,
}

impl Client {
    /// Registers `username` with a first device named `device_name`, and publishes its keys.
    pub async fn register(
        server: &str,
        username: &str,
        device_name: &str,
    ) -> Result<Self, ClientError> {
        let api = Api::new(server, None);
        let request = RegisterRequest {
            username: pigeon_proto::Username::new(username)
                .map_err(|e| ClientError::Protocol(e.to_string()))?,
            device_name: device_name.to_owned(),
        };
        let registered: Registered = api.post("/v1/accounts", &request).await?;
        Self::with_new_device(&api, registered).await
    }

    /// Adds a device to this client's user and returns a client for it, keys published.
    pub async fn add_device(&self, device_name: &str) -> Result<Self, ClientError> {
        let request = pigeon_proto::AddDeviceRequest {
            device_name: device_name.to_owned(),
        };
        let registered: Registered = self.api.post("/v1/devices", &request).await?;
        Self::with_new_device(&self.api, registered).await
    }

    async fn with_new_device(api: &Api, registered: Registered) -> Result<Self, ClientError> {
        let client = Self {
            api: api.with_token(registered.token.clone()),
            credentials: Credentials {
                server: api.base().to_owned(),
                user_id: registered.user_id.to_string(),
                device_id: registered.device_id.to_string(),
                token: registered.token,
            },
            crypto: Arc::new(CryptoCell::new(Device::new())),
            targets: Arc::default(),
            live: Arc::default(),
        };
        client.upload_keys(true).await?;
        Ok(client)
    }

    /// This device's credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// This device's Curve25519 identity key.
    pub fn identity_key(&self) -> String {
        self.crypto.lock().device.identity_key()
    }

    /// Uploads a fresh batch of one-time keys (and, the first time, identity and fallback
    /// keys). Returns the server's count of unclaimed one-time keys.
    async fn upload_keys(&self, first: bool) -> Result<u64, ClientError> {
        let request = {
            let mut crypto = self.crypto.lock();
            let one_time_keys = crypto.device.generate_one_time_keys(KEY_BATCH);
            let fallback = if first {
                crypto.device.generate_fallback_key()
            } else {
                None
            };
            UploadKeysRequest {
                identity: first.then(|| to_wire_identity(&crypto.device.keys())),
                one_time_keys: one_time_keys.iter().map(to_wire_key).collect(),
                fallback_key: fallback.as_ref().map(to_wire_key),
            }
        };
        let count: KeyCount = self.api.put("/v1/keys", &request).await?;
        Ok(count.one_time_key_count)
    }

    /// Uploads more one-time keys when the server has fewer than a threshold left (the
    /// WebSocket's `hello` and `keys_low` frames say how many).
    pub async fn top_up_keys(&self, count_on_server: u64) -> Result<u64, ClientError> {
        if count_on_server >= LOW_KEYS {
            return Ok(count_on_server);
        }
        self.upload_keys(false).await
    }

    /// The user id of `username`.
    pub async fn find_user(&self, username: &str) -> Result<String, ClientError> {
        let found: UserLookup = self
            .api
            .get(&format!("/v1/users?username={username}"))
            .await?;
        Ok(found.user_id.to_string())
    }

    /// Opens the live connection (WebSocket) of this device.
    pub async fn connect(&self) -> Result<Connection, ClientError> {
        Connection::open(self.clone()).await
    }

    /// Marks `peer`'s messages read up to `up_to` (a message id). Returns false when an equal
    /// or newer mark was already recorded.
    pub async fn mark_read(&self, peer: &str, up_to: &str) -> Result<bool, ClientError> {
        let request = ReadRequest {
            peer: wire_id(peer)?,
            up_to: wire_id(up_to)?,
        };
        let answer: ReadResponse = self.api.post("/v1/receipts/read", &request).await?;
        Ok(answer.advanced)
    }

    /// Sends `text` to `recipient` (a user id): encrypted once per recipient device and per
    /// this user's other devices, under a `messaging.send` span whose context the server
    /// continues. A stale device list is refreshed and the send retried with the same id.
    pub async fn send_text(&self, recipient: &str, text: &str) -> Result<Sent, ClientError> {
        let tracer = global::tracer("pigeon-client");
        let mut span = tracer.start("messaging.send");
        span.set_attributes([
            KeyValue::new("sender.id", self.credentials.user_id.clone()),
            KeyValue::new("recipient.id", recipient.to_owned()),
            KeyValue::new(
                "conversation.id",
                conversation_id(&self.credentials.user_id, recipient),
            ),
            KeyValue::new("message.content_length", text.len() as i64),
        ]);
        let cx = Context::current_with_span(span);
        let started = Instant::now();
        let result = self
            .send_attempts(recipient, text)
            .with_context(cx.clone())
            .await;
        let span = cx.span();
        match &result {
            Ok(sent) => span.set_attribute(KeyValue::new("message.id", sent.message_id.clone())),
            Err(err) => span.set_status(Status::error(err.to_string())),
        }
        span.end();
        global::meter("pigeon-client")
            .f64_histogram("messaging.send.latency_ms")
            .with_unit("ms")
            .with_description("End-to-end message send latency")
            .build()
            .record(started.elapsed().as_secs_f64() * 1e3, &[]);
        result
    }

    async fn send_attempts(&self, recipient: &str, text: &str) -> Result<Sent, ClientError> {
        let client_msg_id = ClientMsgId::new(uuid::Uuid::now_v7().to_string())
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let mut last = None;
        for attempt in 0..3 {
            let targets = self.targets(recipient, attempt > 0).await?;
            self.ensure_sessions(&targets).await?;
            let request = SendRequest {
                client_msg_id: client_msg_id.clone(),
                recipient: wire_id(recipient)?,
                ciphertexts: self.encrypt_for(&targets, text)?,
            };
            match self.post_message(request).await {
                Ok(sent) => {
                    return Ok(Sent {
                        message_id: sent.message_id.to_string(),
                        duplicate: sent.duplicate,
                    });
                }
                Err(err @ ClientError::Server { .. }) if is_stale(&err) => last = Some(err),
                Err(err) => return Err(err),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Protocol("device lists kept changing".into())))
    }

    /// Sends over the live connection when one is open and the request fits in a frame,
    /// otherwise (or when the socket cannot bring the answer) over HTTP, with the same
    /// `client_msg_id`: the server stores it once either way.
    async fn post_message(&self, request: SendRequest) -> Result<SendResponse, ClientError> {
        let link = self.live().clone();
        if let Some(link) = link {
            let traceparent = trace_headers(&Context::current()).remove("traceparent");
            if let Some(answer) = link.send(&request, traceparent) {
                match tokio::time::timeout(SOCKET_SEND_TIMEOUT, answer).await {
                    Ok(Ok(Err(ClientError::Transport(err)))) => {
                        tracing::debug!(%err, "a send over the socket is retried over HTTP");
                    }
                    Ok(Ok(answered)) => return answered,
                    Ok(Err(_)) | Err(_) => {
                        tracing::debug!("a send over the socket got no answer; retrying over HTTP");
                    }
                }
            }
        }
        self.api.post("/v1/messages", &request).await
    }

    /// Sends go over `link` from now on, while it is open.
    pub(crate) fn attach(&self, link: Link) {
        *self.live() = Some(link);
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Option<Link>> {
        // A link is a handle: a panic elsewhere cannot leave it half-changed.
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The recipient's devices and this user's other devices: from the cache, or from the
    /// server when asked to `refresh` (after a 409) or not known yet.
    async fn targets(
        &self,
        recipient: &str,
        refresh: bool,
    ) -> Result<Vec<PeerDevice>, ClientError> {
        if !refresh && let Some(known) = self.lock_targets().get(recipient) {
            return Ok(known.clone());
        }
        let mut targets = Vec::new();
        for user in [recipient, self.credentials.user_id.as_str()] {
            let list: DeviceList = self.api.get(&format!("/v1/users/{user}/devices")).await?;
            for device in list.devices {
                if device.device_id.as_str() == self.credentials.device_id {
                    continue;
                }
                let peer = PeerDevice::new(user, device.device_id.as_str());
                if let Some(keys) = device.keys {
                    self.crypto
                        .lock()
                        .identities
                        .insert(peer.clone(), from_wire_identity(keys));
                }
                targets.push(peer);
            }
            if recipient == self.credentials.user_id {
                break;
            }
        }
        self.lock_targets()
            .insert(recipient.to_owned(), targets.clone());
        Ok(targets)
    }

    fn lock_targets(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<PeerDevice>>> {
        self.targets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Claims keys for, and starts sessions with, the target devices that have none yet.
    async fn ensure_sessions(&self, targets: &[PeerDevice]) -> Result<(), ClientError> {
        let missing: Vec<DeviceRef> = {
            let crypto = self.crypto.lock();
            targets
                .iter()
                .filter(|p| !crypto.sessions.has_session(p))
                .map(|p| {
                    Ok(DeviceRef {
                        user_id: wire_id(&p.user_id)?,
                        device_id: wire_id(&p.device_id)?,
                    })
                })
                .collect::<Result<_, ClientError>>()?
        };
        if missing.is_empty() {
            return Ok(());
        }
        let claimed: ClaimResponse = self
            .api
            .post("/v1/keys/claim", &ClaimRequest { devices: missing })
            .await?;
        let mut crypto = self.crypto.lock();
        for key in claimed.keys {
            let peer = PeerDevice::new(key.device.user_id.as_str(), key.device.device_id.as_str());
            let identity = from_wire_identity(key.identity);
            let one_time = from_wire_key(key.key);
            let session = crypto.device.outbound(&identity, &one_time).map_err(|e| {
                ClientError::Crypto(format!("session with {}: {e}", peer.device_id))
            })?;
            crypto.identities.insert(peer.clone(), identity);
            crypto.sessions.insert(peer, session);
        }
        Ok(())
    }

    fn encrypt_for(
        &self,
        targets: &[PeerDevice],
        text: &str,
    ) -> Result<Vec<DeviceCiphertext>, ClientError> {
        let tracer = global::tracer("pigeon-client");
        let latency = global::meter("pigeon-client")
            .f64_histogram("messaging.encryption.latency_ms")
            .with_unit("ms")
            .with_description("Message encryption latency")
            .build();
        let mut crypto = self.crypto.lock();
        let mut out = Vec::with_capacity(targets.len());
        for peer in targets {
            if !crypto.sessions.has_session(peer) {
                // No keys on the server for it: it cannot receive end-to-end encrypted messages
                // yet; the server answers 409 and we retry after it publishes keys.
                continue;
            }
            let mut span = tracer.start("messaging.encrypt");
            let started = Instant::now();
            let encrypted = crypto
                .sessions
                .encrypt(peer, text)
                .map_err(|e| ClientError::Crypto(e.to_string()))?;
            latency.record(started.elapsed().as_secs_f64() * 1e3, &[]);
            span.set_attributes([
                KeyValue::new("encryption.algorithm", ALGORITHM),
                KeyValue::new("encryption.key_version", encrypted.key_version as i64),
                KeyValue::new(
                    "encryption.ciphertext_length",
                    encrypted.ciphertext.len() as i64,
                ),
                KeyValue::new("device.id", peer.device_id.clone()),
            ]);
            if let Some((old, new)) = encrypted.key_rotated {
                span.add_event(
                    "key_rotation_triggered",
                    vec![
                        KeyValue::new("old_key_version", old as i64),
                        KeyValue::new("new_key_version", new as i64),
                    ],
                );
            }
            span.end();
            out.push(DeviceCiphertext {
                device: DeviceRef {
                    user_id: wire_id(&peer.user_id)?,
                    device_id: wire_id(&peer.device_id)?,
                },
                message_type: match encrypted.ciphertext.message_type {
                    pigeon_crypto::MessageType::PreKey => MessageType::PreKey,
                    pigeon_crypto::MessageType::Normal => MessageType::Normal,
                },
                body: encrypted.ciphertext.body,
            });
        }
        Ok(out)
    }

    /// The identity key of a peer device, fetched from the server the first time.
    pub(crate) async fn identity_of(&self, peer: &PeerDevice) -> Result<DeviceKeys, ClientError> {
        if let Some(keys) = self.crypto.lock().identities.get(peer) {
            return Ok(keys.clone());
        }
        let list: DeviceList = self
            .api
            .get(&format!("/v1/users/{}/devices", peer.user_id))
            .await?;
        let keys = list
            .devices
            .into_iter()
            .find(|d| d.device_id.as_str() == peer.device_id)
            .and_then(|d| d.keys)
            .map(from_wire_identity)
            .ok_or_else(|| {
                ClientError::Crypto(format!("no identity keys for {}", peer.device_id))
            })?;
        keys.verify().map_err(|e| {
            ClientError::Crypto(format!("identity keys of {}: {e}", peer.device_id))
        })?;
        self.crypto
            .lock()
            .identities
            .insert(peer.clone(), keys.clone());
        Ok(keys)
    }
}

fn is_stale(err: &ClientError) -> bool {
    matches!(err, ClientError::Server { body, .. } if body.code == ErrorCode::StaleDevices)
}

fn wire_id<T: TryFrom<String, Error = pigeon_proto::IdError>>(s: &str) -> Result<T, ClientError> {
    T::try_from(s.to_owned()).map_err(|e| ClientError::Protocol(e.to_string()))
}

/// The id of a 1:1 conversation, as the server names it: the two user ids, ordered.
pub(crate) fn conversation_id(a: &str, b: &str) -> String {
    if a <= b {
        format!("{a}:{b}")
    } else {
        format!("{b}:{a}")
    }
}

fn to_wire_identity(keys: &DeviceKeys) -> pigeon_proto::IdentityKeys {
    pigeon_proto::IdentityKeys {
        curve25519: keys.curve25519.clone(),
        ed25519: keys.ed25519.clone(),
        signature: keys.signature.clone(),
    }
}

fn from_wire_identity(keys: pigeon_proto::IdentityKeys) -> DeviceKeys {
    DeviceKeys {
        curve25519: keys.curve25519,
        ed25519: keys.ed25519,
        signature: keys.signature,
    }
}

fn to_wire_key(key: &SignedOneTimeKey) -> pigeon_proto::SignedKey {
    pigeon_proto::SignedKey {
        key_id: key.key.key_id.clone(),
        public_key: key.key.public_key.clone(),
        fallback: key.fallback,
        signature: key.signature.clone(),
    }
}

fn from_wire_key(key: pigeon_proto::SignedKey) -> SignedOneTimeKey {
    SignedOneTimeKey {
        key: pigeon_crypto::OneTimeKey {
            key_id: key.key_id,
            public_key: key.public_key,
        },
        fallback: key.fallback,
        signature: key.signature,
    }
}

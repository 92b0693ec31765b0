//! [`NatsBackend`]: the `pigeon_bus::Backend` contract over JetStream.
//!
//! The backend holds one connection, shared by every publisher and consumer of the process:
//! async-nats multiplexes them and handles reconnects, re-subscribing and re-pulling on its own.
//! Publishing sends to the topic's subject and awaits the stream's PubAck, so a message is
//! stored (on disk, with file storage) when `publish` returns. The wait is pipelined: many
//! publishing tasks share the connection, each awaiting only its own ack, and async-nats bounds
//! the acks awaited at once (`NatsConfig::max_ack_inflight`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::context::{PublishError as NatsPublishError, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, ContextBuilder};
use async_nats::{Client, ConnectErrorKind, HeaderMap};
use bytes::Bytes;
use futures::future::BoxFuture;
use pigeon_bus::{Backend, ConsumerSpec, Deliveries, Envelope, PublishError, SubscribeError};

use crate::consumer::NatsDeliveries;
use crate::stream::{Streams, Topic};
use crate::{ConnectError, NatsConfig};

/// Bytes of `max_payload` kept for the headers this backend adds and NATS header framing
/// (`NATS/1.0`, `Nats-Msg-Id`, `Pigeon-Key`, `Pigeon-Published-At`). The id, key and user
/// headers themselves are counted by `Envelope::encoded_len`.
const HEADER_ROOM: usize = 256;

/// Most messages one pull request asks for; larger `max_in_flight` values pull in several.
const MAX_PULL_BATCH: usize = 512;

/// Lifetime of one pull request; the pull stream renews it before it runs out.
const PULL_EXPIRY: std::time::Duration = std::time::Duration::from_secs(30);

/// The server sends a heartbeat on an idle pull this often, so a dead connection shows.
const PULL_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(10);

/// The NATS JetStream backend: one stream per topic, one durable pull consumer per group.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use pigeon_bus_nats::{NatsBackend, NatsConfig};
///
/// let backend = NatsBackend::connect("nats://127.0.0.1:4222", NatsConfig::new()).await?;
/// let bus = pigeon_bus::Bus::builder(backend).build();
/// bus.publish(pigeon_bus::OutgoingMessage::new("orders", "hello")).await?;
/// # Ok(())
/// # }
/// ```
pub struct NatsBackend {
    client: Arc<Client>,
    js: jetstream::Context,
    streams: Streams,
    config: NatsConfig,
    max_message_bytes: usize,
    closed: AtomicBool,
}

impl std::fmt::Debug for NatsBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBackend")
            .field("config", &self.config)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl NatsBackend {
    /// Connects to the NATS server(s) at `url` (comma-separated for several) and checks that
    /// JetStream is enabled. Reconnects after the first connection are async-nats's business.
    pub async fn connect(url: &str, config: NatsConfig) -> Result<Self, ConnectError> {
        let mut options =
            async_nats::ConnectOptions::new().request_timeout(Some(config.request_timeout));
        if let Some(name) = &config.connection_name {
            options = options.name(name);
        }
        let servers: Vec<&str> = url
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let client = options
            .connect(servers.as_slice())
            .await
            .map_err(|err| connect_error(url, &err))?;
        Self::with_client(client, config).await
    }

    /// Uses an existing connection, for applications that configure it themselves
    /// (credentials, TLS, callbacks). Checks that JetStream is enabled.
    pub async fn with_client(client: Client, config: NatsConfig) -> Result<Self, ConnectError> {
        let js = ContextBuilder::new()
            .timeout(config.request_timeout)
            .max_ack_inflight(config.max_ack_inflight)
            .backpressure_on_inflight(true)
            .build(client.clone());
        check_jetstream(&client).await?;
        let max_payload = client.server_info().max_payload;
        Ok(Self {
            streams: Streams::new(js.clone(), &config),
            client: Arc::new(client),
            js,
            config,
            max_message_bytes: max_payload.saturating_sub(HEADER_ROOM),
            closed: AtomicBool::new(false),
        })
    }

    /// The connection, for anything else the application wants to do over NATS.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The name of the JetStream stream that holds `topic` (its subject is the topic itself).
    pub fn stream_name(&self, topic: &str) -> String {
        self.streams.name_of(topic)
    }

    async fn publish_envelope(&self, envelope: Envelope) -> Result<(), PublishError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(PublishError::Closed);
        }
        let headers = self.headers_of(&envelope)?;
        let topic = self
            .streams
            .ensure(&envelope.topic)
            .await
            .map_err(PublishError::Backend)?;
        let result = match self.send(&topic, headers, envelope.payload.clone()).await {
            // The stream was deleted behind our back: create it again and retry once.
            Err(err) if err.kind() == PublishErrorKind::StreamNotFound => {
                tracing::warn!(topic = %envelope.topic, "stream disappeared; creating it again");
                self.streams.forget(&envelope.topic);
                let topic = self
                    .streams
                    .ensure(&envelope.topic)
                    .await
                    .map_err(PublishError::Backend)?;
                let headers = self.headers_of(&envelope)?;
                self.send(&topic, headers, envelope.payload.clone()).await
            }
            other => other,
        };
        result.map_err(|err| match err.kind() {
            PublishErrorKind::MaxPayloadExceeded => PublishError::TooLarge {
                size: envelope.encoded_len(),
                max: self.max_message_bytes,
            },
            _ => PublishError::Backend(err.to_string()),
        })
    }

    fn headers_of(&self, envelope: &Envelope) -> Result<HeaderMap, PublishError> {
        crate::headers::to_nats(envelope, self.config.publish_time_header)
            .map_err(|err| PublishError::Backend(err.to_string()))
    }

    async fn send(
        &self,
        topic: &Topic,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<(), NatsPublishError> {
        let ack = self
            .js
            .send_publish(
                topic.subject.clone(),
                PublishMessage::build().payload(payload).headers(headers),
            )
            .await?;
        // A duplicate (same Nats-Msg-Id within the window) is stored already: success.
        ack.await.map(drop)
    }

    async fn open_consumer(
        &self,
        spec: ConsumerSpec,
    ) -> Result<Box<dyn Deliveries>, SubscribeError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(SubscribeError::Closed);
        }
        let topic = self
            .streams
            .ensure(&spec.topic)
            .await
            .map_err(SubscribeError::Backend)?;
        let max_in_flight = spec.max_in_flight.max(1);
        let batch = max_in_flight.min(MAX_PULL_BATCH);
        let config = pull::Config {
            durable_name: Some(spec.group.to_string()),
            description: Some(format!("pigeon-bus group {} on {}", spec.group, spec.topic)),
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::Explicit,
            ack_wait: spec.ack_deadline,
            max_deliver: -1,
            max_ack_pending: i64::try_from(max_in_flight + batch).unwrap_or(i64::MAX),
            ..Default::default()
        };
        let consumer = self
            .js
            .create_consumer_on_stream(config, &*topic.stream)
            .await
            .map_err(|err| {
                SubscribeError::Backend(format!(
                    "cannot create consumer {} on stream {}: {err}",
                    spec.group, topic.stream
                ))
            })?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(batch)
            .expires(PULL_EXPIRY)
            .heartbeat(PULL_HEARTBEAT)
            .messages()
            .await
            .map_err(|err| SubscribeError::Backend(format!("cannot start pulling: {err}")))?;
        Ok(Box::new(NatsDeliveries {
            messages,
            client: self.client.clone(),
            topic: spec.topic,
            wait: self.config.fetch_expiry,
            deferred: None,
        }))
    }
}

impl Backend for NatsBackend {
    fn system(&self) -> &'static str {
        "nats"
    }

    fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    fn orders_keys(&self) -> bool {
        false
    }

    fn publish(&self, envelope: Envelope) -> BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(self.publish_envelope(envelope))
    }

    fn consume(
        &self,
        spec: ConsumerSpec,
    ) -> BoxFuture<'_, Result<Box<dyn Deliveries>, SubscribeError>> {
        Box::pin(self.open_consumer(spec))
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if self.closed.swap(true, Ordering::AcqRel) {
                return;
            }
            // Acks and nacks of the last handlers are publishes still in the client's buffer.
            if let Err(err) = self.client.flush().await {
                tracing::warn!(%err, "could not flush the NATS connection at shutdown");
            }
            if let Err(err) = self.client.drain().await {
                tracing::warn!(%err, "could not drain the NATS connection at shutdown");
            }
        })
    }
}

/// Asks the JetStream API for the account's info. The reply is only checked for an error, not
/// parsed into async-nats's `Account`, whose shape follows newer servers than we support.
async fn check_jetstream(client: &Client) -> Result<(), ConnectError> {
    let reply = client
        .request("$JS.API.INFO", Bytes::new())
        .await
        .map_err(|err| ConnectError::JetStreamUnavailable(err.to_string()))?;
    let info: serde_json::Value = serde_json::from_slice(&reply.payload).map_err(|err| {
        ConnectError::JetStreamUnavailable(format!("unreadable account info: {err}"))
    })?;
    match info.get("error") {
        Some(error) => Err(ConnectError::JetStreamUnavailable(error.to_string())),
        None => Ok(()),
    }
}

fn connect_error(url: &str, err: &async_nats::ConnectError) -> ConnectError {
    match err.kind() {
        ConnectErrorKind::ServerParse => ConnectError::InvalidUrl {
            url: url.to_owned(),
            reason: err.to_string(),
        },
        ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation => {
            ConnectError::Auth(err.to_string())
        }
        _ => ConnectError::Unreachable {
            url: url.to_owned(),
            reason: err.to_string(),
        },
    }
}

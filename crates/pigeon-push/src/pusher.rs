//! [`Pusher`]: sends one notice to one subscription, retrying transient failures.
//!
//! A send is: build the request once (encrypt and sign for Web Push, sign for a webhook), then
//! POST it until a definite answer, the attempt limit or the time budget (see `retry.rs` for
//! the policy). The same bytes are re-sent on every attempt, so a push service that did get an
//! earlier attempt sees a duplicate at worst; delivery is at-least-once anyway.
//!
//! Errors are returned, not logged: the caller records them once on its
//! `messaging.deliver_push` span. Retries are logged at debug level and added as `push.retry`
//! events to the active OpenTelemetry span. Nothing logged names a key, a secret, the payload
//! or an endpoint's path: only the origin.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::USER_AGENT;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full, Limited};
use opentelemetry::KeyValue;
use opentelemetry::trace::get_active_span;
use tokio::time::{Instant, sleep, timeout};

use crate::client::{self, HttpClient};
use crate::config::PushConfig;
use crate::error::{Failure, PushError, PusherBuildError};
use crate::metrics::Metrics;
use crate::notice::PushNotice;
use crate::outcome::PushOutcome;
use crate::retry::{Backoff, Verdict, classify, retry_after};
use crate::subscription::PushSubscription;
use crate::vapid::VapidKeys;
use crate::{webhook, webpush};

/// How much of a response body is read (and dropped) so the connection can be reused.
const MAX_DRAINED_BODY: usize = 64 * 1024;

/// A request ready to send, possibly several times.
pub(crate) struct Prepared {
    pub(crate) provider: &'static str,
    pub(crate) uri: Uri,
    /// For logs: never the full URL.
    pub(crate) origin: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// Sends pushes. Cheap to clone: clones share one HTTP client and its connection pool.
#[derive(Clone)]
pub struct Pusher {
    inner: Arc<Inner>,
}

struct Inner {
    client: HttpClient,
    config: PushConfig,
    vapid: VapidKeys,
    metrics: Metrics,
    user_agent: HeaderValue,
}

impl std::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher")
            .field("config", &self.inner.config)
            .field("vapid", &self.inner.vapid)
            .finish_non_exhaustive()
    }
}

impl Pusher {
    /// A pusher that signs Web Push requests with `vapid`.
    pub fn new(config: PushConfig, vapid: VapidKeys) -> Result<Self, PusherBuildError> {
        let client = client::build(config.connect_timeout)?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                config,
                vapid,
                metrics: Metrics::new(),
                user_agent: HeaderValue::from_static(concat!(
                    "pigeon-push/",
                    env!("CARGO_PKG_VERSION")
                )),
            }),
        })
    }

    /// The `applicationServerKey` clients subscribe with.
    pub fn vapid_public_key(&self) -> &str {
        self.inner.vapid.public_key_base64url()
    }

    /// Sends `notice` to `sub`, retrying transient failures within the configured limits.
    ///
    /// `Ok(Gone)` means the caller should delete the subscription.
    pub async fn send(
        &self,
        sub: &PushSubscription,
        notice: &PushNotice,
    ) -> Result<PushOutcome, PushError> {
        let started = Instant::now();
        let prepared = match sub {
            PushSubscription::WebPush {
                endpoint,
                p256dh,
                auth,
            } => webpush::prepare(
                &webpush::Target {
                    endpoint,
                    p256dh,
                    auth,
                },
                notice,
                &self.inner.vapid,
                &self.inner.config,
                SystemTime::now(),
            ),
            PushSubscription::Webhook { url, secret } => {
                webhook::prepare(url, secret.as_deref(), notice)
            }
        };
        let result = match prepared {
            Ok(prepared) => self.deliver(&prepared, started).await,
            Err(error) => Err(error),
        };
        self.inner
            .metrics
            .finished(sub.provider(), &result, started.elapsed());
        result
    }

    async fn deliver(
        &self,
        prepared: &Prepared,
        started: Instant,
    ) -> Result<PushOutcome, PushError> {
        let config = &self.inner.config;
        let provider = prepared.provider;
        let deadline = started + config.max_total_time;
        let backoff = Backoff {
            initial: config.initial_backoff,
            max: config.max_backoff,
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (failure, asked_wait) = match self.attempt(prepared, deadline).await {
                Ok((status, headers)) => {
                    let code = status.as_u16();
                    match classify(status) {
                        Verdict::Delivered => {
                            tracing::debug!(provider, origin = %prepared.origin, status = code, attempts, "push delivered");
                            return Ok(PushOutcome::Delivered {
                                provider,
                                status: code,
                                attempts,
                                elapsed: started.elapsed(),
                            });
                        }
                        Verdict::Gone => {
                            tracing::debug!(provider, origin = %prepared.origin, status = code, "push subscription gone");
                            return Ok(PushOutcome::Gone {
                                provider,
                                status: code,
                                attempts,
                            });
                        }
                        Verdict::Rejected => {
                            return Err(PushError::Rejected {
                                provider,
                                status: code,
                                attempts,
                            });
                        }
                        Verdict::Retry => (
                            Failure::Status(code),
                            retry_after(&headers, SystemTime::now()),
                        ),
                    }
                }
                Err(failure) => (failure, None),
            };
            let wait = asked_wait.unwrap_or_else(|| backoff.delay(attempts));
            if attempts >= config.max_attempts || Instant::now() + wait >= deadline {
                return Err(PushError::Exhausted {
                    provider,
                    attempts,
                    last: failure,
                });
            }
            tracing::debug!(
                provider,
                origin = %prepared.origin,
                attempt = attempts,
                failure = %failure,
                wait_ms = wait.as_millis() as u64,
                retry_after = asked_wait.is_some(),
                "push attempt failed; retrying"
            );
            get_active_span(|span| {
                span.add_event(
                    "push.retry",
                    vec![
                        KeyValue::new("push.attempt", i64::from(attempts)),
                        KeyValue::new("push.failure", failure.to_string()),
                        KeyValue::new("push.wait_ms", wait.as_millis() as i64),
                    ],
                );
            });
            self.inner.metrics.retry(provider);
            sleep(wait).await;
        }
    }

    /// One POST. Returns the status and headers, or why there was none.
    async fn attempt(
        &self,
        prepared: &Prepared,
        deadline: Instant,
    ) -> Result<(StatusCode, HeaderMap), Failure> {
        let mut request = Request::new(Full::new(prepared.body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = prepared.uri.clone();
        *request.headers_mut() = prepared.headers.clone();
        request
            .headers_mut()
            .insert(USER_AGENT, self.inner.user_agent.clone());

        let limit = self
            .inner
            .config
            .request_timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        let response = match timeout(limit, self.inner.client.request(request)).await {
            Err(_) => return Err(Failure::Timeout),
            Ok(Err(error)) => return Err(Failure::Connect(error_chain(&error))),
            Ok(Ok(response)) => response,
        };
        let (parts, body) = response.into_parts();
        // Read what little the receiver sent so the connection goes back to the pool; a slow or
        // oversized body is simply dropped with its connection.
        let drain = Limited::new(body, MAX_DRAINED_BODY).collect();
        let _ = timeout(limit.min(Duration::from_secs(2)), drain).await;
        Ok((parts.status, parts.headers))
    }
}

/// "outer: inner: innermost", since hyper's top-level message alone says little.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

//! The raw async-nats figure the backend is measured against.
//!
//! `pigeon bench` reports the bus over NATS next to what bare async-nats does on the same
//! machine in the same run, so the figure says what the bus layer costs rather than how fast
//! the machine is. The baseline is the plainest correct JetStream use: `publishers` tasks each
//! publishing and awaiting the PubAck, one durable pull consumer acking every message — the
//! same work the bus does, minus envelopes, headers, spans and handler dispatch.
//!
//! It runs on a scratch stream (file storage and a 2 minute duplicate window, like the
//! backend's) that is deleted afterwards. With [`BaselineOptions::message_ids`] every publish
//! also carries a `Nats-Msg-Id`, as the backend's do: the server then de-duplicates, which is a
//! large part of what a publish costs it, so that variant is the like-for-like comparison.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, consumer::pull, stream};
use bytes::Bytes;
use futures::StreamExt as _;

use crate::{BaselineError, ConnectError};

/// How the baseline publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaselineOptions {
    /// Concurrent publishing tasks, each awaiting its PubAck before the next publish. Default 64.
    pub publishers: usize,
    /// Give every message a unique `Nats-Msg-Id`, as the backend does. Default false: the plainest
    /// publish.
    pub message_ids: bool,
}

impl Default for BaselineOptions {
    fn default() -> Self {
        Self {
            publishers: 64,
            message_ids: false,
        }
    }
}

/// Publishes `payload_bytes`-byte messages for `duration` while one pull consumer acks them, and
/// returns the messages acked per second over that time.
///
/// Needs a JetStream-enabled server at `url`; leaves nothing behind on it.
pub async fn raw_jetstream_baseline(
    url: &str,
    duration: Duration,
    payload_bytes: usize,
    options: BaselineOptions,
) -> Result<f64, BaselineError> {
    let client = async_nats::connect(url)
        .await
        .map_err(|err| ConnectError::Unreachable {
            url: url.to_owned(),
            reason: err.to_string(),
        })?;
    let js = jetstream::ContextBuilder::new()
        .backpressure_on_inflight(true)
        .build(client.clone());
    let unique = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!("PIGEON_BASELINE_{unique}_{}", std::process::id());
    let subject = format!("pigeon-baseline.{unique}.{}", std::process::id());
    js.create_stream(stream::Config {
        name: name.clone(),
        subjects: vec![subject.clone()],
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .map_err(|err| BaselineError::Setup(err.to_string()))?;

    let result = run(&js, &name, subject, duration, payload_bytes, options).await;
    if let Err(err) = js.delete_stream(&name).await {
        tracing::warn!(%err, stream = %name, "could not delete the baseline stream");
    }
    result
}

async fn run(
    js: &jetstream::Context,
    stream_name: &str,
    subject: String,
    duration: Duration,
    payload_bytes: usize,
    options: BaselineOptions,
) -> Result<f64, BaselineError> {
    let consumer = js
        .create_consumer_on_stream(
            pull::Config {
                durable_name: Some("baseline".to_owned()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ..Default::default()
            },
            stream_name,
        )
        .await
        .map_err(|err| BaselineError::Setup(err.to_string()))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|err| BaselineError::Setup(err.to_string()))?;

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let payload = Bytes::from(vec![b'x'; payload_bytes]);
    let subject = async_nats::Subject::from(subject);

    let consuming = tokio::spawn({
        let stop = stop.clone();
        let acked = acked.clone();
        async move {
            while !stop.load(Ordering::Relaxed) {
                let next = tokio::time::timeout(Duration::from_millis(200), messages.next()).await;
                match next {
                    Err(_idle) => continue,
                    Ok(None) => return Err("pull stream ended".to_owned()),
                    Ok(Some(Err(err))) => return Err(err.to_string()),
                    Ok(Some(Ok(message))) => {
                        message.ack().await.map_err(|err| err.to_string())?;
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Ok(())
        }
    });
    let publishing: Vec<_> = (0..options.publishers.max(1))
        .map(|task| {
            let js = js.clone();
            let stop = stop.clone();
            let payload = payload.clone();
            let subject = subject.clone();
            let id_prefix = format!("{stream_name}-{task}-");
            tokio::spawn(async move {
                let mut sequence = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut message = PublishMessage::build().payload(payload.clone());
                    if options.message_ids {
                        sequence += 1;
                        message = message.message_id(format!("{id_prefix}{sequence}"));
                    }
                    let ack = js
                        .send_publish(subject.clone(), message)
                        .await
                        .map_err(|err| err.to_string())?;
                    ack.await.map_err(|err| err.to_string())?;
                }
                Ok::<(), String>(())
            })
        })
        .collect();

    let started = Instant::now();
    tokio::time::sleep(duration).await;
    let count = acked.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);

    for task in publishing {
        task.await
            .map_err(|err| BaselineError::Run(err.to_string()))?
            .map_err(BaselineError::Run)?;
    }
    consuming
        .await
        .map_err(|err| BaselineError::Run(err.to_string()))?
        .map_err(BaselineError::Run)?;
    Ok(count as f64 / elapsed.as_secs_f64())
}

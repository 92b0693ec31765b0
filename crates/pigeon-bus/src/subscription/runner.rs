//! The event loop of one subscription.
//!
//! It keeps one fetch pending whenever there is room under `max_in_flight`, runs handlers as a
//! set of futures on this task, starts the next message of a key when the previous one settles,
//! and on shutdown stops fetching, hands back messages not yet started and waits for the rest.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use tokio_util::sync::CancellationToken;

use super::lanes::Lanes;
use super::process::Shared;
use crate::{ConsumeError, Deliveries, FetchResult, Handler};

/// Pause after a backend error before fetching again.
const FETCH_RETRY_PAUSE: Duration = Duration::from_millis(500);

pub(crate) async fn run<H: Handler>(
    shared: Arc<Shared<H>>,
    deliveries: Box<dyn Deliveries>,
    cancel: CancellationToken,
) {
    let max_in_flight = shared.options.max_in_flight;
    let mut idle: Option<Box<dyn Deliveries>> = Some(deliveries);
    let mut fetch: Option<BoxFuture<'static, FetchResult>> = None;
    let mut pause_next_fetch = false;
    let mut running = FuturesUnordered::new();
    let mut lanes = Lanes::default();
    let mut in_flight = 0usize;
    let mut heartbeat =
        tokio::time::interval((shared.options.ack_deadline / 3).max(Duration::from_millis(10)));
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        if fetch.is_none()
            && in_flight < max_in_flight
            && let Some(stream) = idle.take()
        {
            let room = max_in_flight - in_flight;
            fetch = Some(if std::mem::take(&mut pause_next_fetch) {
                Box::pin(async move {
                    tokio::time::sleep(FETCH_RETRY_PAUSE).await;
                    stream.next_batch(room).await
                })
            } else {
                stream.next_batch(room)
            });
        }
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            Some(finished_key) = running.next(), if !running.is_empty() => {
                in_flight -= 1;
                if let Some(key) = finished_key
                    && let Some(next) = lanes.finish(&key)
                {
                    running.push(shared.clone().process(next));
                }
            }
            (stream, result) = async { fetch_output(fetch.as_mut()).await }, if fetch.is_some() => {
                fetch = None;
                idle = Some(stream);
                match result {
                    Ok(batch) => {
                        shared.instruments().record_consumed(&shared.attrs, batch.len() as u64);
                        for delivery in batch {
                            in_flight += 1;
                            let ready = if shared.orders_keys_here { lanes.admit(delivery) } else { Some(delivery) };
                            if let Some(delivery) = ready {
                                running.push(shared.clone().process(delivery));
                            }
                        }
                    }
                    Err(ConsumeError::Closed) => break,
                    Err(err @ ConsumeError::Backend(_)) => {
                        tracing::warn!(topic = %shared.options.topic, group = %shared.options.group, %err, "fetch failed; retrying");
                        pause_next_fetch = true;
                    }
                }
            }
            _ = heartbeat.tick(), if !lanes.nobody_waits() => {
                let beats: Vec<_> = lanes.waiting().map(|d| d.acker.in_progress()).collect();
                for result in futures::future::join_all(beats).await {
                    if let Err(err) = result {
                        tracing::warn!(%err, "could not extend the ack deadline of a waiting message");
                    }
                }
            }
        }
    }

    drop(fetch);
    for waiting in lanes.take_waiting() {
        if let Err(err) = waiting.acker.nack(Duration::ZERO).await {
            tracing::warn!(%err, "could not hand back a message at shutdown; it returns after its ack deadline");
        }
    }
    let drained = tokio::time::timeout(shared.options.drain_timeout, async {
        while running.next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(topic = %shared.options.topic, group = %shared.options.group, "drain timed out; unfinished messages return after their ack deadline");
    }
}

async fn fetch_output(fetch: Option<&mut BoxFuture<'static, FetchResult>>) -> FetchResult {
    match fetch {
        Some(fetch) => fetch.await,
        None => std::future::pending().await,
    }
}

//! The loop the three ordering services share: on a timer, place a random order inside a root
//! `place-order` span and publish it, so the bus's PRODUCER span and every later hop join that
//! order's trace.

use opentelemetry::Context;
use opentelemetry::trace::{FutureExt as _, TraceContextExt as _};
use pigeon_bus::{OutgoingMessage, PublishError};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::knobs::Step;
use crate::spans;
use crate::{Order, PipelineConfig, Schedule, Service, ServiceWiring, Source};

/// An order counter: what differs between the three ordering services.
pub(crate) struct Counter {
    pub(crate) service: Service,
    pub(crate) source: Source,
    /// Where its orders go.
    pub(crate) topic: std::sync::Arc<str>,
    pub(crate) schedule: Schedule,
    /// The seed's log line, given the order id.
    pub(crate) placing: fn(&Order) -> String,
    /// The seed's success line.
    pub(crate) placed: &'static str,
}

/// An order that could not be placed.
#[derive(Debug, thiserror::Error)]
enum PlaceError {
    /// The `--fail place=…` knob fired.
    #[error("the ordering terminal failed (injected by --fail place)")]
    Injected,
    /// The bus did not take it.
    #[error("cannot publish: {0}")]
    Publish(#[from] PublishError),
}

/// Places orders until the schedule's limit (of attempts) or `shutdown`. Returns how many were
/// placed successfully.
pub(crate) async fn run(
    counter: Counter,
    wiring: ServiceWiring,
    config: &PipelineConfig,
    shutdown: CancellationToken,
) -> u64 {
    let service = counter.service.name();
    tracing::info!(service, every = ?counter.schedule.every, "{service} started");
    // `every` zero: as fast as the bus takes orders (the benchmark), yielding between them.
    let mut ticks = (!counter.schedule.every.is_zero()).then(|| {
        let mut ticks = tokio::time::interval(counter.schedule.every);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticks
    });
    // The limit counts attempts, so `--fail place=100%` cannot make a bounded run endless.
    let (mut attempts, mut placed) = (0, 0);
    while counter.schedule.limit.is_none_or(|limit| attempts < limit) {
        let next = async {
            match &mut ticks {
                Some(ticks) => {
                    ticks.tick().await;
                }
                None => tokio::task::yield_now().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = next => {}
        }
        attempts += 1;
        if place_one(&counter, &wiring, config).await {
            placed += 1;
        }
    }
    tracing::info!(service, placed, "{service} stopped");
    placed
}

/// Places one order in its own trace; `false` if it failed (logged and recorded on the span).
async fn place_one(counter: &Counter, wiring: &ServiceWiring, config: &PipelineConfig) -> bool {
    let service = counter.service.name();
    let order = Order::random(counter.source);
    let cx = spans::start(&wiring.tracer, "place-order", &Context::new(), &order);
    let result = async {
        tracing::info!(service, order_id = %order.order_id, "{}", (counter.placing)(&order));
        spans::take_time(config.knobs.duration(Step::Place)).await;
        if config.knobs.fails(Step::Place) {
            return Err(PlaceError::Injected);
        }
        let id = order.order_id.to_string();
        let message = OutgoingMessage::new(&counter.topic, order.to_json())
            .key(&id)
            .id(id);
        wiring.bus.publish(message).await?;
        tracing::info!(service, order_id = %order.order_id, "{}", counter.placed);
        Ok(())
    }
    .with_context(cx.clone())
    .await;
    if let Err(error) = &result {
        spans::record_failure(&cx, error);
        let _guard = cx.clone().attach();
        let order_id = order.order_id;
        tracing::error!(service, %order_id, %error, "Order {order_id} could not be placed");
    }
    cx.span().end();
    result.is_ok()
}

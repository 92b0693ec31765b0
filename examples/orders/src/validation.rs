//! order-validation: consumes `orders.validate`, checks address, name and inventory — each a
//! child span of the bus's CONSUMER span, so a trace shows which check was slow — and
//! republishes valid orders to `orders.kitchen`.
//!
//! A failed check is never a silent drop: its span ends as an error with an `exception` event,
//! the consumer span gets a `rejected` event, and the order goes to `orders.rejected` with the
//! reason in a header.

use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::trace::TraceContextExt as _;
use pigeon_bus::{HandlerError, Message, OutgoingMessage, SubscribeOptions, Subscription};
use tokio_util::sync::CancellationToken;

use crate::knobs::Step;
use crate::spans::{self, ORDER_ID};
use crate::topics::REJECTED_REASON_HEADER;
use crate::{Order, PipelineConfig, Service, ServiceError, ServiceWiring};

const SERVICE: Service = Service::OrderValidation;

/// The three checks, in order, with their span names.
const CHECKS: [(Step, &str); 3] = [
    (Step::Address, "validate-address"),
    (Step::Name, "validate-name"),
    (Step::Inventory, "validate-inventory"),
];

/// Why an order was turned down.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{check} failed for order {order_id} (injected by --fail {step})")]
pub struct Rejection {
    /// The span name of the failed check.
    pub check: &'static str,
    /// The knob's step name.
    pub step: Step,
    /// The order.
    pub order_id: uuid::Uuid,
}

/// Runs order-validation until `shutdown`, then drains orders in progress.
pub async fn run_order_validation(
    wiring: ServiceWiring,
    config: PipelineConfig,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    let subscription = subscribe(wiring, config).await?;
    crate::service::run_until(subscription, shutdown, SERVICE).await;
    Ok(())
}

/// Subscribes order-validation; it runs until the subscription is shut down.
pub(crate) async fn subscribe(
    wiring: ServiceWiring,
    config: PipelineConfig,
) -> Result<Subscription, ServiceError> {
    let topic = config.topics.validate.clone();
    let options = SubscribeOptions::new(&topic, SERVICE.name())
        .max_in_flight(config.max_in_flight)
        .drain_timeout(config.drain_timeout);
    let state = Arc::new((wiring.clone(), config));
    let subscription = wiring
        .bus
        .subscribe(options, move |message| {
            let state = Arc::clone(&state);
            async move { validate(&state.0, &state.1, message).await }
        })
        .await
        .map_err(|source| ServiceError::Subscribe {
            service: SERVICE,
            topic: topic.to_string(),
            source,
        })?;
    tracing::info!(service = SERVICE.name(), %topic, "order-validation started");
    Ok(subscription)
}

async fn validate(
    wiring: &ServiceWiring,
    config: &PipelineConfig,
    message: Message,
) -> Result<(), HandlerError> {
    let service = SERVICE.name();
    let order = Order::from_json(message.payload()).map_err(|error| {
        tracing::error!(service, %error, "dead-lettering a message that is not an order");
        HandlerError::dead_letter(error.to_string())
    })?;
    let order_id = order.order_id;
    let consumer = message.context.span();
    consumer.set_attribute(KeyValue::new(ORDER_ID, order_id.to_string()));
    tracing::info!(service, %order_id, "Received order {order_id} for validation");

    for (step, check) in CHECKS {
        let fail = config.knobs.fails(step).then_some(Rejection {
            check,
            step,
            order_id,
        });
        let duration = config.knobs.duration(step);
        if let Err(rejection) = spans::timed_step(
            &wiring.tracer,
            check,
            &message.context,
            &order,
            duration,
            fail,
        )
        .await
        {
            return reject(wiring, config, &message, &order, &rejection).await;
        }
    }

    let id = order_id.to_string();
    let next = OutgoingMessage::new(&config.topics.kitchen, order.to_json())
        .key(&id)
        .id(id);
    wiring.bus.publish(next).await.map_err(|error| {
        tracing::warn!(service, %order_id, %error, "cannot pass order {order_id} to the kitchen; will retry");
        HandlerError::retry(format!("cannot publish to the kitchen: {error}"))
    })?;
    tracing::info!(service, %order_id, "Validated and republished order for kitchen: {order_id}");
    Ok(())
}

/// Records the rejection on the consumer span and publishes the order to the rejected topic.
async fn reject(
    wiring: &ServiceWiring,
    config: &PipelineConfig,
    message: &Message,
    order: &Order,
    rejection: &Rejection,
) -> Result<(), HandlerError> {
    let service = SERVICE.name();
    let order_id = order.order_id;
    let reason = rejection.to_string();
    message.context.span().add_event(
        "rejected",
        vec![
            KeyValue::new(ORDER_ID, order_id.to_string()),
            KeyValue::new("rejected.check", rejection.check),
            KeyValue::new("rejected.reason", reason.clone()),
        ],
    );
    let id = order_id.to_string();
    let out = OutgoingMessage::new(&config.topics.rejected, order.to_json())
        .key(&id)
        .id(id)
        .header(REJECTED_REASON_HEADER, reason.clone());
    wiring.bus.publish(out).await.map_err(|error| {
        tracing::warn!(service, %order_id, %error, "cannot publish rejected order {order_id}; will retry");
        HandlerError::retry(format!("cannot publish to the rejected topic: {error}"))
    })?;
    tracing::warn!(service, %order_id, %reason, "Rejected order {order_id}: {reason}");
    Ok(())
}

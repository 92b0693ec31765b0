//! kitchen-service: consumes `orders.kitchen` (validated orders and direct ones), cooks inside a
//! `cook` span and announces the order ready. A burnt dish (`--fail cook=…`) is an error span and
//! the order is dead-lettered with the reason, so it is never lost quietly.

use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::trace::TraceContextExt as _;
use pigeon_bus::{HandlerError, Message, SubscribeOptions, Subscription};
use tokio_util::sync::CancellationToken;

use crate::knobs::Step;
use crate::ready_log::ReadyLog;
use crate::spans::{self, ORDER_ID};
use crate::{Order, PipelineConfig, Service, ServiceError, ServiceWiring};

const SERVICE: Service = Service::KitchenService;

/// A dish that went wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the {dish} for order {order_id} got burnt (injected by --fail cook)")]
struct Burnt {
    dish: String,
    order_id: uuid::Uuid,
}

struct Kitchen {
    wiring: ServiceWiring,
    config: PipelineConfig,
    ready_log: Option<ReadyLog>,
}

/// Runs kitchen-service until `shutdown`, then drains orders in progress.
pub async fn run_kitchen_service(
    wiring: ServiceWiring,
    config: PipelineConfig,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    let subscription = subscribe(wiring, config).await?;
    crate::service::run_until(subscription, shutdown, SERVICE).await;
    Ok(())
}

/// Subscribes kitchen-service; it runs until the subscription is shut down.
pub(crate) async fn subscribe(
    wiring: ServiceWiring,
    config: PipelineConfig,
) -> Result<Subscription, ServiceError> {
    let ready_log = match &config.ready_log {
        Some(path) => Some(
            ReadyLog::open(path).map_err(|source| ServiceError::ReadyLog {
                path: path.clone(),
                source,
            })?,
        ),
        None => None,
    };
    let topic = config.topics.kitchen.clone();
    let options = SubscribeOptions::new(&topic, SERVICE.name())
        .max_in_flight(config.max_in_flight)
        .drain_timeout(config.drain_timeout);
    let kitchen = Arc::new(Kitchen {
        wiring: wiring.clone(),
        config,
        ready_log,
    });
    let subscription = wiring
        .bus
        .subscribe(options, move |message| {
            let kitchen = Arc::clone(&kitchen);
            async move { kitchen.cook(message).await }
        })
        .await
        .map_err(|source| ServiceError::Subscribe {
            service: SERVICE,
            topic: topic.to_string(),
            source,
        })?;
    tracing::info!(service = SERVICE.name(), %topic, "kitchen-service started");
    Ok(subscription)
}

impl Kitchen {
    async fn cook(&self, message: Message) -> Result<(), HandlerError> {
        let service = SERVICE.name();
        let order = Order::from_json(message.payload()).map_err(|error| {
            tracing::error!(service, %error, "dead-lettering a message that is not an order");
            HandlerError::dead_letter(error.to_string())
        })?;
        let order_id = order.order_id;
        message
            .context
            .span()
            .set_attribute(KeyValue::new(ORDER_ID, order_id.to_string()));
        tracing::info!(service, %order_id, "Received order {order_id} for processing");

        let knobs = &self.config.knobs;
        let burnt = knobs.fails(Step::Cook).then(|| Burnt {
            dish: order.dish.clone(),
            order_id,
        });
        let cooked = spans::timed_step(
            &self.wiring.tracer,
            "cook",
            &message.context,
            &order,
            knobs.duration(Step::Cook),
            burnt,
        )
        .await;
        if let Err(burnt) = cooked {
            tracing::error!(service, %order_id, error = %burnt, "dead-lettering order {order_id}");
            return Err(HandlerError::dead_letter(burnt.to_string()));
        }

        if let Some(log) = &self.ready_log {
            log.append(&order, spans::trace_id(&message.context))
                .map_err(|error| {
                    tracing::error!(service, %order_id, %error, "cannot write the ready log");
                    HandlerError::retry(format!("cannot write the ready log: {error}"))
                })?;
        }
        tracing::info!(
            service,
            %order_id,
            "Your order is ready. Please enjoy your {} and other food! - Order id = {order_id}",
            order.dish
        );
        Ok(())
    }
}

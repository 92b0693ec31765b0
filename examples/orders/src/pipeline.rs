//! [`run_all`]: the five services in one process, consumers subscribed before the first order
//! is placed, all stopped together.

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{
    PipelineConfig, Service, ServiceError, Wiring, kitchen, run_direct_kitchen_ordering,
    run_onsite_ordering, run_website_ordering, validation,
};

/// Runs all five services until `shutdown`, each with the bus and tracer `wiring` gives it
/// (pass a [`pigeon_bus::Bus`] to share one bus and the global tracer for all). Ordering
/// services that reach their order limit stop early; the consumers run until `shutdown`, then
/// drain the orders in progress.
pub async fn run_all(
    wiring: impl Into<Wiring>,
    config: PipelineConfig,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    let wiring = wiring.into();
    // Subscribe first, so no order is published before its consumer group exists.
    let kitchen = kitchen::subscribe(wiring.wire(Service::KitchenService), config.clone()).await?;
    let validation =
        match validation::subscribe(wiring.wire(Service::OrderValidation), config.clone()).await {
            Ok(subscription) => subscription,
            Err(error) => {
                kitchen.shutdown().await;
                return Err(error);
            }
        };

    let mut ordering = JoinSet::new();
    ordering.spawn(run_website_ordering(
        wiring.wire(Service::WebsiteOrdering),
        config.clone(),
        shutdown.clone(),
    ));
    ordering.spawn(run_onsite_ordering(
        wiring.wire(Service::OnsiteOrdering),
        config.clone(),
        shutdown.clone(),
    ));
    ordering.spawn(run_direct_kitchen_ordering(
        wiring.wire(Service::DirectKitchenOrdering),
        config,
        shutdown.clone(),
    ));

    shutdown.cancelled().await;
    let mut crashed = None;
    while let Some(joined) = ordering.join_next().await {
        if let Err(join) = joined {
            crashed.get_or_insert(join.to_string());
        }
    }
    // Ordering has stopped; drain validation, then the kitchen it feeds.
    validation.shutdown().await;
    kitchen.shutdown().await;
    match crashed {
        Some(reason) => Err(ServiceError::Crashed {
            service: "an ordering service",
            reason,
        }),
        None => Ok(()),
    }
}

//! direct-kitchen-ordering: management's line to the kitchen. It bypasses order-validation by
//! publishing straight to the kitchen topic, so its traces have no validation hop.

use tokio_util::sync::CancellationToken;

use crate::ordering::{self, Counter};
use crate::{PipelineConfig, Service, ServiceWiring, Source};

/// Runs direct-kitchen-ordering until `shutdown` or until `config.direct.limit` orders are
/// placed. Returns the number of orders placed.
pub async fn run_direct_kitchen_ordering(
    wiring: ServiceWiring,
    config: PipelineConfig,
    shutdown: CancellationToken,
) -> u64 {
    let counter = Counter {
        service: Service::DirectKitchenOrdering,
        source: Source::DirectKitchen,
        topic: config.topics.kitchen.clone(),
        schedule: config.direct,
        placing: |order| format!("Placing a direct order for the kitchen: {}", order.order_id),
        placed: "The direct order has been placed successfully!",
    };
    ordering::run(counter, wiring, &config, shutdown).await
}

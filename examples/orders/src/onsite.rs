//! onsite-ordering: orders taken in the restaurant; orders go to order-validation.

use tokio_util::sync::CancellationToken;

use crate::ordering::{self, Counter};
use crate::{PipelineConfig, Service, ServiceWiring, Source};

/// Runs onsite-ordering until `shutdown` or until `config.onsite.limit` orders are placed.
/// Returns the number of orders placed.
pub async fn run_onsite_ordering(
    wiring: ServiceWiring,
    config: PipelineConfig,
    shutdown: CancellationToken,
) -> u64 {
    let counter = Counter {
        service: Service::OnsiteOrdering,
        source: Source::Onsite,
        topic: config.topics.validate.clone(),
        schedule: config.onsite,
        placing: |order| format!("Placing an on-site order with id {}", order.order_id),
        placed: "The on-site order has been placed successfully!",
    };
    ordering::run(counter, wiring, &config, shutdown).await
}

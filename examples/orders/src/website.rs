//! website-ordering: customers order online; orders go to order-validation.

use tokio_util::sync::CancellationToken;

use crate::ordering::{self, Counter};
use crate::{PipelineConfig, Service, ServiceWiring, Source};

/// Runs website-ordering until `shutdown` or until `config.website.limit` orders are placed.
/// Returns the number of orders placed.
pub async fn run_website_ordering(
    wiring: ServiceWiring,
    config: PipelineConfig,
    shutdown: CancellationToken,
) -> u64 {
    let counter = Counter {
        service: Service::WebsiteOrdering,
        source: Source::Website,
        topic: config.topics.validate.clone(),
        schedule: config.website,
        placing: |order| format!("Placing an online order with id {}", order.order_id),
        placed: "The online order has been placed successfully!",
    };
    ordering::run(counter, wiring, &config, shutdown).await
}

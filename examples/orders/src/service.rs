//! The five services, and what each one is handed to run: a bus and a tracer.
//!
//! Why a tracer per service: `service.name` lives on the tracer provider's resource, not on
//! spans. As separate processes each service has its own provider (from `OTEL_SERVICE_NAME`).
//! In one process, [`Wiring::per_service`] lets the caller build one provider per service
//! (`pigeon_telemetry::Telemetry` with `build_local()`), and a bus over the shared backend whose
//! PRODUCER/CONSUMER spans use that service's tracer, so every span names the service that did
//! the work.

use std::fmt;
use std::sync::Arc;

use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::trace::Tracer;
use pigeon_bus::Bus;

/// The services of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// Places online orders on a timer.
    WebsiteOrdering,
    /// Places orders from the restaurant's terminals on a timer.
    OnsiteOrdering,
    /// Places orders straight to the kitchen, bypassing validation.
    DirectKitchenOrdering,
    /// Validates address, name and inventory, then passes orders to the kitchen.
    OrderValidation,
    /// Cooks.
    KitchenService,
}

impl Service {
    /// Every service, consumers first (so they are subscribed before orders arrive).
    pub const ALL: [Service; 5] = [
        Service::KitchenService,
        Service::OrderValidation,
        Service::WebsiteOrdering,
        Service::OnsiteOrdering,
        Service::DirectKitchenOrdering,
    ];

    /// The `service.name`, the consumer group, and the `service` field of log lines.
    pub fn name(self) -> &'static str {
        match self {
            Self::WebsiteOrdering => "website-ordering",
            Self::OnsiteOrdering => "onsite-ordering",
            Self::DirectKitchenOrdering => "direct-kitchen-ordering",
            Self::OrderValidation => "order-validation",
            Self::KitchenService => "kitchen-service",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one service runs on.
#[derive(Clone)]
pub struct ServiceWiring {
    /// Publishes and subscribes; its spans should carry this service's resource.
    pub bus: Bus,
    /// Makes the service's own spans (`place-order`, `validate-*`, `cook`).
    pub tracer: Arc<BoxedTracer>,
}

impl fmt::Debug for ServiceWiring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceWiring")
            .field("bus", &self.bus)
            .finish_non_exhaustive()
    }
}

/// Name of the tracer (instrumentation scope) of the services' own spans.
pub const TRACER_NAME: &str = "example-orders";

impl ServiceWiring {
    /// `bus`, with spans going to the global tracer provider (a process running one service).
    pub fn new(bus: Bus) -> Self {
        Self {
            bus,
            tracer: Arc::new(global::tracer(TRACER_NAME)),
        }
    }

    /// `bus`, with the service's own spans going to `tracer`.
    pub fn with_tracer<T>(bus: Bus, tracer: T) -> Self
    where
        T: Tracer + Send + Sync + 'static,
        T::Span: Send + Sync + 'static,
    {
        Self {
            bus,
            tracer: Arc::new(BoxedTracer::new(Box::new(tracer))),
        }
    }
}

/// Hands each service its [`ServiceWiring`].
#[derive(Clone)]
pub struct Wiring(Arc<dyn Fn(Service) -> ServiceWiring + Send + Sync>);

impl fmt::Debug for Wiring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Wiring(..)")
    }
}

impl Wiring {
    /// Every service on `bus` and the global tracer provider: one `service.name` for all.
    pub fn shared(bus: Bus) -> Self {
        Self(Arc::new(move |_| ServiceWiring::new(bus.clone())))
    }

    /// Each service gets what `wire` returns for it, typically a bus over one shared backend
    /// and a tracer, both from that service's own tracer provider.
    pub fn per_service(wire: impl Fn(Service) -> ServiceWiring + Send + Sync + 'static) -> Self {
        Self(Arc::new(wire))
    }

    /// The wiring of `service`.
    pub fn wire(&self, service: Service) -> ServiceWiring {
        (self.0)(service)
    }
}

impl From<Bus> for Wiring {
    fn from(bus: Bus) -> Self {
        Self::shared(bus)
    }
}

/// Keeps a consumer running until `shutdown`, then lets its orders in progress finish.
pub(crate) async fn run_until(
    subscription: pigeon_bus::Subscription,
    shutdown: tokio_util::sync::CancellationToken,
    service: Service,
) {
    shutdown.cancelled().await;
    subscription.shutdown().await;
    tracing::info!(service = service.name(), "{} stopped", service.name());
}

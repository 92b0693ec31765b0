//! The `orders` command line: which service to run, on which bus, with which knobs.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use example_orders::{
    Fail, KnobError, Knobs, PipelineConfig, Schedule, Slow, Topics, parse_duration,
};

/// Worked examples shown under `--help`.
const EXAMPLES: &str = "\
Examples:
  # Five processes over NATS JetStream (start the consumers first; one terminal each):
  orders kitchen-service         --bus nats://127.0.0.1:4222
  orders order-validation        --bus nats://127.0.0.1:4222 --slow inventory=200ms
  orders website-ordering        --bus nats://127.0.0.1:4222
  orders onsite-ordering         --bus nats://127.0.0.1:4222
  orders direct-kitchen-ordering --bus nats://127.0.0.1:4222

  # All five in one process on the in-process bus, one order in fifty failing its address check:
  orders all --bus memory --fail address=2%

  # A quick bounded run: ten orders per ordering service, steps 10x faster, stop after 20 s:
  orders all --bus memory --orders 10 --time-scale 0.1 --run-for 20s

Telemetry follows the standard OTEL_* variables (OTEL_EXPORTER_OTLP_ENDPOINT,
OTEL_TRACES_EXPORTER=none, RUST_LOG, ...); every service reports its own service.name,
also in `all`. Each log line carries the service, the order_id and the trace_id;
PIGEON_LOG_FORMAT=json writes JSON lines. Find the slow step of an order by its trace id.";

/// The ITuna sushi order pipeline on pigeon-bus: five services, one trace per order.
///
/// website-ordering and onsite-ordering place orders for order-validation, which checks
/// address, name and inventory and passes them to kitchen-service; direct-kitchen-ordering
/// skips validation. Run each service as its own process over NATS, or all five in one.
#[derive(Debug, Parser)]
#[command(name = "orders", version, after_help = EXAMPLES)]
pub(crate) struct Cli {
    /// The service to run.
    #[command(subcommand)]
    pub(crate) command: Command,
    /// Options every service shares.
    #[command(flatten)]
    pub(crate) options: Options,
}

/// One subcommand per service, plus `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub(crate) enum Command {
    /// Places online orders on a timer (--website-every) onto the validation topic.
    WebsiteOrdering,
    /// Places on-site orders on a timer (--onsite-every) onto the validation topic.
    OnsiteOrdering,
    /// Places orders straight onto the kitchen topic (--direct-every), bypassing validation.
    DirectKitchenOrdering,
    /// Validates address, name and inventory (one child span each), then passes orders to the
    /// kitchen; rejected orders go to the rejected topic.
    OrderValidation,
    /// Cooks orders and announces them ready (optionally appending them to --ready-log).
    KitchenService,
    /// All five services in one process (use --bus memory for a self-contained demo).
    All,
}

/// Options shared by every service.
#[derive(Debug, Args)]
pub(crate) struct Options {
    /// The bus: `memory` (in-process; only useful with `all`) or a NATS URL such as
    /// nats://127.0.0.1:4222 (JetStream must be enabled).
    #[arg(
        long,
        global = true,
        env = "ORDERS_BUS",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub(crate) bus: String,

    /// Put every topic under this prefix (`PREFIX.orders.validate`, …) so runs sharing a NATS
    /// server do not see each other's orders. Every process of one run needs the same prefix.
    #[arg(long, global = true, env = "ORDERS_TOPIC_PREFIX", default_value = "")]
    pub(crate) topic_prefix: String,

    /// Time between two website orders (e.g. 3s, 500ms).
    #[arg(long, global = true, value_parser = parse_duration, default_value = "3s")]
    pub(crate) website_every: Duration,

    /// Time between two on-site orders.
    #[arg(long, global = true, value_parser = parse_duration, default_value = "4s")]
    pub(crate) onsite_every: Duration,

    /// Time between two direct kitchen orders.
    #[arg(long, global = true, value_parser = parse_duration, default_value = "7s")]
    pub(crate) direct_every: Duration,

    /// Each ordering service stops after placing N orders (a single ordering service then
    /// exits). Default: until Ctrl-C.
    #[arg(long, global = true, value_name = "N")]
    pub(crate) orders: Option<u64>,

    /// Make a step slower by a fixed amount, e.g. `--slow inventory=200ms`. Steps: place,
    /// address, name, inventory, cook. Repeatable.
    #[arg(long, global = true, value_name = "STEP=DURATION")]
    pub(crate) slow: Vec<Slow>,

    /// Make a step fail with a probability, e.g. `--fail address=2%`. A failed validation step
    /// rejects the order (error span, `rejected` event, rejected topic); a failed cook
    /// dead-letters it. Repeatable.
    #[arg(long, global = true, value_name = "STEP=PROBABILITY")]
    pub(crate) fail: Vec<Fail>,

    /// Multiply every step's usual time range by this factor (0.01 for a fast run).
    #[arg(long, global = true, default_value_t = 1.0)]
    pub(crate) time_scale: f64,

    /// kitchen-service appends one JSON line per ready order (order_id, trace_id, dish,
    /// source) to this file.
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) ready_log: Option<PathBuf>,

    /// Stop after this long (e.g. 30s). Default: until Ctrl-C (or, for an ordering service
    /// with --orders, until its orders are placed).
    #[arg(long, global = true, value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) run_for: Option<Duration>,
}

impl Options {
    /// The pipeline configuration these options describe.
    pub(crate) fn pipeline_config(&self) -> Result<PipelineConfig, KnobError> {
        let mut knobs = Knobs::default().with_time_scale(self.time_scale)?;
        for slow in &self.slow {
            knobs = knobs.with_slow(*slow);
        }
        for fail in &self.fail {
            knobs = knobs.with_fail(*fail);
        }
        let schedule = |every| {
            let schedule = Schedule::every(every);
            match self.orders {
                Some(n) => schedule.limit(n),
                None => schedule,
            }
        };
        Ok(PipelineConfig {
            topics: Topics::with_prefix(&self.topic_prefix),
            knobs,
            website: schedule(self.website_every),
            onsite: schedule(self.onsite_every),
            direct: schedule(self.direct_every),
            ready_log: self.ready_log.clone(),
            ..PipelineConfig::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_service_with_knobs() {
        let cli = Cli::try_parse_from([
            "orders",
            "order-validation",
            "--bus",
            "memory",
            "--slow",
            "inventory=200ms",
            "--fail",
            "address=2%",
            "--orders",
            "3",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.command, Command::OrderValidation);
        let config = cli
            .options
            .pipeline_config()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.website.limit, Some(3));
        assert!(Cli::try_parse_from(["orders", "all", "--fail", "sauce=1%"]).is_err());
    }
}

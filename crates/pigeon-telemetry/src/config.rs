//! Configuration: a typed builder with documented defaults, and the standard `OTEL_*` environment
//! variables as one layer beneath it.
//!
//! Why this shape: operators configure OpenTelemetry the same way in every language, through
//! `OTEL_*` variables, while code (tests, the `pigeon` binary's flags) needs to pin values no
//! matter what the environment says. [`TelemetryConfig::from_env`] reads the environment once
//! into plain fields; every `with_*` setter called afterwards overwrites what the environment
//! said, so an explicit setting in code always wins. [`TelemetryConfig::default`] does not read
//! the environment at all, which keeps tests hermetic.
//!
//! Invalid values are errors, not silent fallbacks: a typo in `OTEL_TRACES_SAMPLER` should stop a
//! binary at start-up rather than quietly sample everything.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_sdk::trace::Sampler;

use crate::consumer::SpanConsumer;

/// Default capacity of the in-process span queue, in spans.
pub const DEFAULT_SINK_CAPACITY: usize = 131_072;
/// Default capacity of the OTLP export queue, in spans.
pub const DEFAULT_EXPORT_QUEUE_CAPACITY: usize = 65_536;
/// Default number of spans per OTLP export request.
pub const DEFAULT_EXPORT_BATCH_SIZE: usize = 512;
/// Default log filter when `RUST_LOG` is unset: `info`, with the OpenTelemetry SDK's own
/// start-up chatter held to warnings.
pub const DEFAULT_LOG_FILTER: &str = "info,opentelemetry=warn,opentelemetry_sdk=warn";
/// Default time `force_flush` and `shutdown` wait before giving up.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// A configuration value that could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid {variable}={value:?}: {reason}")]
pub struct ConfigError {
    /// The environment variable (or setting) the value came from.
    pub variable: &'static str,
    /// The rejected value.
    pub value: String,
    /// Why it was rejected.
    pub reason: String,
}

impl ConfigError {
    fn new(variable: &'static str, value: &str, reason: impl Into<String>) -> Self {
        Self {
            variable,
            value: value.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Which spans are recorded, as named by `OTEL_TRACES_SAMPLER`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum SamplerConfig {
    /// `always_on`: record every span.
    AlwaysOn,
    /// `always_off`: record nothing.
    AlwaysOff,
    /// `traceidratio`: record this fraction of traces, by trace id.
    TraceIdRatio(f64),
    /// `parentbased_always_on` (the default): follow the parent's decision, record roots.
    #[default]
    ParentBasedAlwaysOn,
    /// `parentbased_always_off`: follow the parent's decision, drop roots.
    ParentBasedAlwaysOff,
    /// `parentbased_traceidratio`: follow the parent's decision, sample roots by ratio.
    ParentBasedTraceIdRatio(f64),
}

impl SamplerConfig {
    /// Parses the values of `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.
    ///
    /// A ratio sampler without an argument uses 1.0, as the specification says. Unknown sampler
    /// names (including `jaeger_remote` and `xray`, which Pigeon does not support) and ratios
    /// outside `0.0..=1.0` are errors.
    pub fn parse(name: &str, arg: Option<&str>) -> Result<Self, ConfigError> {
        let ratio = || -> Result<f64, ConfigError> {
            let Some(arg) = arg.map(str::trim).filter(|a| !a.is_empty()) else {
                return Ok(1.0);
            };
            let ratio: f64 = arg
                .parse()
                .map_err(|_| ConfigError::new("OTEL_TRACES_SAMPLER_ARG", arg, "not a number"))?;
            if (0.0..=1.0).contains(&ratio) {
                Ok(ratio)
            } else {
                Err(ConfigError::new(
                    "OTEL_TRACES_SAMPLER_ARG",
                    arg,
                    "ratio must be within 0.0..=1.0",
                ))
            }
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "always_on" => Ok(Self::AlwaysOn),
            "always_off" => Ok(Self::AlwaysOff),
            "traceidratio" => Ok(Self::TraceIdRatio(ratio()?)),
            "parentbased_always_on" => Ok(Self::ParentBasedAlwaysOn),
            "parentbased_always_off" => Ok(Self::ParentBasedAlwaysOff),
            "parentbased_traceidratio" => Ok(Self::ParentBasedTraceIdRatio(ratio()?)),
            _ => Err(ConfigError::new(
                "OTEL_TRACES_SAMPLER",
                name,
                "expected always_on, always_off, traceidratio, parentbased_always_on, \
                 parentbased_always_off or parentbased_traceidratio",
            )),
        }
    }

    /// The SDK sampler this stands for.
    pub fn to_sampler(self) -> Sampler {
        match self {
            Self::AlwaysOn => Sampler::AlwaysOn,
            Self::AlwaysOff => Sampler::AlwaysOff,
            Self::TraceIdRatio(r) => Sampler::TraceIdRatioBased(r),
            Self::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            Self::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            Self::ParentBasedTraceIdRatio(r) => {
                Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(r)))
            }
        }
    }
}

/// OTLP transport, as named by `OTEL_EXPORTER_OTLP_PROTOCOL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtlpProtocol {
    /// `grpc`: OTLP/gRPC through tonic, on the exporter thread's own Tokio runtime.
    Grpc,
    /// `http/protobuf` (the specification's default): OTLP/HTTP, binary protobuf bodies.
    #[default]
    HttpProtobuf,
}

impl OtlpProtocol {
    /// Parses a value of `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        match value.trim() {
            "grpc" => Ok(Self::Grpc),
            "http/protobuf" => Ok(Self::HttpProtobuf),
            _ => Err(ConfigError::new(
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                value,
                "expected grpc or http/protobuf",
            )),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines with `trace_id=… span_id=…` appended (the default).
    #[default]
    Text,
    /// One JSON object per line with `trace_id` and `span_id` fields.
    Json,
}

impl LogFormat {
    /// Parses a value of `PIGEON_LOG_FORMAT` (`text` or `json`).
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "text" | "" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(ConfigError::new(
                "PIGEON_LOG_FORMAT",
                value,
                "expected text or json",
            )),
        }
    }
}

/// Where OTLP export goes, once resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpTarget {
    /// Full URL of the traces endpoint (for HTTP it ends in `/v1/traces`).
    pub url: String,
    /// Transport.
    pub protocol: OtlpProtocol,
}

/// Everything [`crate::init`] and [`TelemetryConfig::build_local`] need.
///
/// Start from [`TelemetryConfig::from_env`] in binaries and from [`TelemetryConfig::default`]
/// (or [`crate::Telemetry::builder`]) in tests, then override with the `with_*` setters.
#[derive(Clone)]
pub struct TelemetryConfig {
    pub(crate) service_name: Option<String>,
    pub(crate) resource_attributes: Vec<(String, String)>,
    pub(crate) sdk_disabled: bool,
    pub(crate) sampler: SamplerConfig,
    pub(crate) otlp_endpoint: Option<String>,
    pub(crate) otlp_traces_endpoint: Option<String>,
    pub(crate) otlp_protocol: OtlpProtocol,
    pub(crate) otlp_disabled: bool,
    pub(crate) otlp_timeout: Option<Duration>,
    pub(crate) sink_capacity: usize,
    pub(crate) export_queue_capacity: usize,
    pub(crate) export_batch_size: usize,
    pub(crate) flush_timeout: Duration,
    pub(crate) log_format: LogFormat,
    pub(crate) log_filter: String,
    pub(crate) consumers: Vec<Arc<dyn SpanConsumer>>,
}

impl Default for TelemetryConfig {
    /// Defaults only; the environment is not read.
    fn default() -> Self {
        Self {
            service_name: None,
            resource_attributes: Vec::new(),
            sdk_disabled: false,
            sampler: SamplerConfig::default(),
            otlp_endpoint: None,
            otlp_traces_endpoint: None,
            otlp_protocol: OtlpProtocol::default(),
            otlp_disabled: false,
            otlp_timeout: None,
            sink_capacity: DEFAULT_SINK_CAPACITY,
            export_queue_capacity: DEFAULT_EXPORT_QUEUE_CAPACITY,
            export_batch_size: DEFAULT_EXPORT_BATCH_SIZE,
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
            log_format: LogFormat::default(),
            log_filter: DEFAULT_LOG_FILTER.to_owned(),
            consumers: Vec::new(),
        }
    }
}

impl std::fmt::Debug for TelemetryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryConfig")
            .field("service_name", &self.service_name)
            .field("resource_attributes", &self.resource_attributes)
            .field("sdk_disabled", &self.sdk_disabled)
            .field("sampler", &self.sampler)
            .field("otlp", &self.otlp_target())
            .field("otlp_timeout", &self.otlp_timeout)
            .field("sink_capacity", &self.sink_capacity)
            .field("export_queue_capacity", &self.export_queue_capacity)
            .field("export_batch_size", &self.export_batch_size)
            .field("flush_timeout", &self.flush_timeout)
            .field("log_format", &self.log_format)
            .field("log_filter", &self.log_filter)
            .field("consumers", &self.consumers.len())
            .finish()
    }
}

impl TelemetryConfig {
    /// Reads the process environment. See [`TelemetryConfig::from_lookup`] for the variables.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (a variable name to its value), so tests need not
    /// touch the process environment. Empty values count as unset.
    ///
    /// Variables: `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SDK_DISABLED`,
    /// `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`, `OTEL_TRACES_EXPORTER` (`otlp` or
    /// `none`), `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`,
    /// `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`,
    /// `PIGEON_SPAN_SINK_CAPACITY`, `PIGEON_LOG_FORMAT`, `RUST_LOG`. The exporter itself also
    /// honours `OTEL_EXPORTER_OTLP_HEADERS`, `…_COMPRESSION` and `…_TIMEOUT`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut config = Self {
            service_name: get("OTEL_SERVICE_NAME"),
            ..Self::default()
        };
        if let Some(attrs) = get("OTEL_RESOURCE_ATTRIBUTES") {
            config.resource_attributes = parse_resource_attributes(&attrs)?;
        }
        config.sdk_disabled =
            get("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        if let Some(name) = get("OTEL_TRACES_SAMPLER") {
            let arg = get("OTEL_TRACES_SAMPLER_ARG");
            config.sampler = SamplerConfig::parse(&name, arg.as_deref())?;
        }

        config.otlp_endpoint = get("OTEL_EXPORTER_OTLP_ENDPOINT");
        config.otlp_traces_endpoint = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        if let Some(p) =
            get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| get("OTEL_EXPORTER_OTLP_PROTOCOL"))
        {
            config.otlp_protocol = OtlpProtocol::parse(&p)?;
        }
        if let Some(exporter) = get("OTEL_TRACES_EXPORTER") {
            match exporter.trim() {
                "none" => config.otlp_disabled = true,
                "otlp" => {
                    // An explicit request for OTLP without an endpoint means the default one.
                    if config.otlp_endpoint.is_none() && config.otlp_traces_endpoint.is_none() {
                        config.otlp_endpoint = Some(default_endpoint(config.otlp_protocol).into());
                    }
                }
                _ => {
                    return Err(ConfigError::new(
                        "OTEL_TRACES_EXPORTER",
                        &exporter,
                        "expected otlp or none",
                    ));
                }
            }
        }

        if let Some(v) = get("OTEL_BSP_MAX_QUEUE_SIZE") {
            config.export_queue_capacity = parse_positive("OTEL_BSP_MAX_QUEUE_SIZE", &v)?;
        }
        if let Some(v) = get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") {
            config.export_batch_size = parse_positive("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", &v)?;
        }
        if let Some(v) = get("PIGEON_SPAN_SINK_CAPACITY") {
            config.sink_capacity = parse_positive("PIGEON_SPAN_SINK_CAPACITY", &v)?;
        }
        if let Some(v) = get("PIGEON_LOG_FORMAT") {
            config.log_format = LogFormat::parse(&v)?;
        }
        if let Some(v) = get("RUST_LOG") {
            config.log_filter = v;
        }
        Ok(config)
    }

    /// `service.name` of every span. Default `unknown_service`. Env: `OTEL_SERVICE_NAME`.
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Adds (or replaces) one resource attribute. Env: `OTEL_RESOURCE_ATTRIBUTES`
    /// (`key=value,key2=value2`, percent-encoded values).
    pub fn with_resource_attribute(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        let key = key.into();
        self.resource_attributes.retain(|(k, _)| *k != key);
        self.resource_attributes.push((key, value.into()));
        self
    }

    /// Turns tracing off entirely: no spans are recorded, consumed or exported. Logs and
    /// Prometheus metrics keep working. Default `false`. Env: `OTEL_SDK_DISABLED=true`.
    pub fn with_sdk_disabled(mut self, disabled: bool) -> Self {
        self.sdk_disabled = disabled;
        self
    }

    /// Which spans are recorded. Default parent-based always-on. Env: `OTEL_TRACES_SAMPLER`,
    /// `OTEL_TRACES_SAMPLER_ARG`.
    pub fn with_sampler(mut self, sampler: SamplerConfig) -> Self {
        self.sampler = sampler;
        self
    }

    /// Base URL of an OTLP receiver (for HTTP, `/v1/traces` is appended). Setting it turns OTLP
    /// export on; unset (the default) means nothing is sent over the network.
    /// Env: `OTEL_EXPORTER_OTLP_ENDPOINT` (or the full URL in `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`).
    pub fn with_otlp_endpoint(mut self, base_url: impl Into<String>) -> Self {
        self.otlp_endpoint = Some(base_url.into());
        self.otlp_traces_endpoint = None;
        self.otlp_disabled = false;
        self
    }

    /// Turns OTLP export off even if the environment configured it. Env: `OTEL_TRACES_EXPORTER=none`.
    pub fn without_otlp(mut self) -> Self {
        self.otlp_disabled = true;
        self
    }

    /// OTLP transport. Default `http/protobuf`. Env: `OTEL_EXPORTER_OTLP_PROTOCOL` (or
    /// `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`).
    pub fn with_otlp_protocol(mut self, protocol: OtlpProtocol) -> Self {
        self.otlp_protocol = protocol;
        self
    }

    /// Time limit of one export request, retries included. Default: the exporter's own
    /// (10 s). Env: `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds, read by the exporter).
    pub fn with_otlp_timeout(mut self, timeout: Duration) -> Self {
        self.otlp_timeout = Some(timeout);
        self
    }

    /// Capacity of the in-process span queue, in spans; beyond it spans are dropped and counted.
    /// Default 131,072 (about 50 MB if ever full: a burst of 1M spans/s survives the drain thread being descheduled for 100 ms). Env: `PIGEON_SPAN_SINK_CAPACITY`.
    pub fn with_sink_capacity(mut self, spans: usize) -> Self {
        self.sink_capacity = spans.max(1);
        self
    }

    /// Capacity of the OTLP export queue, in spans; beyond it spans are dropped and counted.
    /// Default 65,536 (the SDK's own default, 2,048, is too small at message rates).
    /// Env: `OTEL_BSP_MAX_QUEUE_SIZE`.
    pub fn with_export_queue_capacity(mut self, spans: usize) -> Self {
        self.export_queue_capacity = spans.max(1);
        self
    }

    /// Most spans per export request. Default 512. Env: `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`.
    pub fn with_export_batch_size(mut self, spans: usize) -> Self {
        self.export_batch_size = spans.max(1);
        self
    }

    /// How long `force_flush` and `shutdown` wait at most. Default 5 s. Env: none.
    pub fn with_flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// Log line format. Default text. Env: `PIGEON_LOG_FORMAT` (`text` or `json`).
    pub fn with_log_format(mut self, format: LogFormat) -> Self {
        self.log_format = format;
        self
    }

    /// Log filter directives (`tracing_subscriber::EnvFilter` syntax). Default
    /// [`DEFAULT_LOG_FILTER`] (`info`, OpenTelemetry SDK at `warn`). Env: `RUST_LOG`.
    pub fn with_log_filter(mut self, directives: impl Into<String>) -> Self {
        self.log_filter = directives.into();
        self
    }

    /// Registers an in-process span consumer from the start. Env: none.
    pub fn with_consumer(mut self, consumer: Arc<dyn SpanConsumer>) -> Self {
        self.consumers.push(consumer);
        self
    }

    /// The sampler that will be used.
    pub fn sampler(&self) -> SamplerConfig {
        self.sampler
    }

    /// The log format that will be used.
    pub fn log_format(&self) -> LogFormat {
        self.log_format
    }

    /// Whether tracing is disabled (`OTEL_SDK_DISABLED`).
    pub fn sdk_disabled(&self) -> bool {
        self.sdk_disabled
    }

    /// The service name that will be used.
    pub fn service_name(&self) -> &str {
        self.service_name.as_deref().unwrap_or("unknown_service")
    }

    /// Resource attributes besides `service.name`.
    pub fn resource_attributes(&self) -> &[(String, String)] {
        &self.resource_attributes
    }

    /// Where spans will be exported, or `None` when nothing goes to the network.
    pub fn otlp_target(&self) -> Option<OtlpTarget> {
        if self.otlp_disabled || self.sdk_disabled {
            return None;
        }
        let url = match (&self.otlp_traces_endpoint, &self.otlp_endpoint) {
            (Some(full), _) => full.clone(),
            (None, Some(base)) => match self.otlp_protocol {
                OtlpProtocol::Grpc => base.clone(),
                OtlpProtocol::HttpProtobuf => {
                    format!("{}/v1/traces", base.trim_end_matches('/'))
                }
            },
            (None, None) => return None,
        };
        Some(OtlpTarget {
            url,
            protocol: self.otlp_protocol,
        })
    }
}

fn default_endpoint(protocol: OtlpProtocol) -> &'static str {
    match protocol {
        OtlpProtocol::Grpc => "http://localhost:4317",
        OtlpProtocol::HttpProtobuf => "http://localhost:4318",
    }
}

fn parse_positive(variable: &'static str, value: &str) -> Result<usize, ConfigError> {
    match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ConfigError::new(
            variable,
            value,
            "expected a positive integer",
        )),
    }
}

/// Parses `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs separated by commas, values
/// percent-encoded (W3C Baggage octet rules).
fn parse_resource_attributes(input: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in input.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(ConfigError::new(
                "OTEL_RESOURCE_ATTRIBUTES",
                input,
                format!("`{pair}` is not key=value"),
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(ConfigError::new(
                "OTEL_RESOURCE_ATTRIBUTES",
                input,
                "empty key",
            ));
        }
        let value = percent_decode(value.trim()).ok_or_else(|| {
            ConfigError::new(
                "OTEL_RESOURCE_ATTRIBUTES",
                input,
                format!("bad percent-encoding in `{pair}`"),
            )
        })?;
        out.retain(|(k, _)| k != key);
        out.push((key.to_owned(), value));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<TelemetryConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TelemetryConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn sampler_defaults_to_parent_based_always_on() {
        assert_eq!(
            config(&[]).unwrap().sampler(),
            SamplerConfig::ParentBasedAlwaysOn
        );
    }

    #[test]
    fn sampler_names_and_args_parse() {
        let cases = [
            ("always_on", None, SamplerConfig::AlwaysOn),
            ("always_off", None, SamplerConfig::AlwaysOff),
            (
                "traceidratio",
                Some("0.25"),
                SamplerConfig::TraceIdRatio(0.25),
            ),
            ("traceidratio", None, SamplerConfig::TraceIdRatio(1.0)),
            (
                "parentbased_always_on",
                None,
                SamplerConfig::ParentBasedAlwaysOn,
            ),
            (
                "parentbased_always_off",
                None,
                SamplerConfig::ParentBasedAlwaysOff,
            ),
            (
                "parentbased_traceidratio",
                Some("0.5"),
                SamplerConfig::ParentBasedTraceIdRatio(0.5),
            ),
            (
                "PARENTBASED_ALWAYS_OFF",
                None,
                SamplerConfig::ParentBasedAlwaysOff,
            ),
        ];
        for (name, arg, want) in cases {
            let mut vars = vec![("OTEL_TRACES_SAMPLER", name)];
            if let Some(arg) = arg {
                vars.push(("OTEL_TRACES_SAMPLER_ARG", arg));
            }
            assert_eq!(config(&vars).unwrap().sampler(), want, "{name} {arg:?}");
        }
    }

    #[test]
    fn bad_sampler_values_are_errors() {
        let err = config(&[("OTEL_TRACES_SAMPLER", "jaeger_remote")]).unwrap_err();
        assert_eq!(err.variable, "OTEL_TRACES_SAMPLER");
        let err = config(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "OTEL_TRACES_SAMPLER_ARG");
        let err = config(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "half"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "OTEL_TRACES_SAMPLER_ARG");
    }

    #[test]
    fn nothing_set_means_no_network() {
        let c = config(&[]).unwrap();
        assert_eq!(c.otlp_target(), None);
        assert_eq!(c.service_name(), "unknown_service");
        assert!(!c.sdk_disabled());
    }

    #[test]
    fn endpoint_and_protocol_resolve() {
        let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]).unwrap();
        assert_eq!(
            c.otlp_target(),
            Some(OtlpTarget {
                url: "http://collector:4318/v1/traces".into(),
                protocol: OtlpProtocol::HttpProtobuf
            })
        );
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ])
        .unwrap();
        assert_eq!(c.otlp_target().unwrap().url, "http://collector:4317");
        let c = config(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://x:1/custom")]).unwrap();
        assert_eq!(c.otlp_target().unwrap().url, "http://x:1/custom");
        let c = config(&[("OTEL_TRACES_EXPORTER", "otlp")]).unwrap();
        assert_eq!(
            c.otlp_target().unwrap().url,
            "http://localhost:4318/v1/traces"
        );
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ])
        .unwrap();
        assert_eq!(c.otlp_target(), None);
        assert!(config(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]).is_err());
    }

    #[test]
    fn code_beats_env() {
        let c = config(&[
            ("OTEL_SERVICE_NAME", "from-env"),
            ("OTEL_TRACES_SAMPLER", "always_off"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"),
            ("PIGEON_LOG_FORMAT", "json"),
        ])
        .unwrap()
        .with_service_name("from-code")
        .with_sampler(SamplerConfig::AlwaysOn)
        .with_otlp_endpoint("http://code:4317")
        .with_otlp_protocol(OtlpProtocol::Grpc)
        .with_log_format(LogFormat::Text);
        assert_eq!(c.service_name(), "from-code");
        assert_eq!(c.sampler(), SamplerConfig::AlwaysOn);
        assert_eq!(c.otlp_target().unwrap().url, "http://code:4317");
        assert_eq!(c.log_format(), LogFormat::Text);
    }

    #[test]
    fn sdk_disabled_turns_export_off() {
        let c = config(&[
            ("OTEL_SDK_DISABLED", "TRUE"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"),
        ])
        .unwrap();
        assert!(c.sdk_disabled());
        assert_eq!(c.otlp_target(), None);
        assert!(
            !config(&[("OTEL_SDK_DISABLED", "1")])
                .unwrap()
                .sdk_disabled()
        );
    }

    #[test]
    fn resource_attributes_parse_and_decode() {
        let c = config(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=prod, team=a%20b,team=c",
        )])
        .unwrap();
        assert_eq!(
            c.resource_attributes(),
            &[
                ("deployment.environment".to_string(), "prod".to_string()),
                ("team".to_string(), "c".to_string())
            ]
        );
        assert!(config(&[("OTEL_RESOURCE_ATTRIBUTES", "novalue")]).is_err());
        assert!(config(&[("OTEL_RESOURCE_ATTRIBUTES", "k=%zz")]).is_err());
    }

    #[test]
    fn sizes_parse() {
        let c = config(&[
            ("PIGEON_SPAN_SINK_CAPACITY", "1000"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "2000"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "100"),
        ])
        .unwrap();
        assert_eq!(c.sink_capacity, 1000);
        assert_eq!(c.export_queue_capacity, 2000);
        assert_eq!(c.export_batch_size, 100);
        assert!(config(&[("PIGEON_SPAN_SINK_CAPACITY", "0")]).is_err());
    }
}

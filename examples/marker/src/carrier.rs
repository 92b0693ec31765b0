//! The names of the two ways a mark's trace context travels, as `--carrier` takes them and the
//! page's `config.json` says them: one spelling for the `marker` binary, `pigeon demo marker`
//! and the browser.

use pigeon_bus::ContextCarrier;

/// `headers` or `correlation-id`, as a clap value parser.
pub fn parse_carrier(name: &str) -> Result<ContextCarrier, String> {
    match name {
        "headers" => Ok(ContextCarrier::Headers),
        "correlation-id" => Ok(ContextCarrier::CorrelationId),
        other => Err(format!(
            "unknown carrier {other:?}: use `headers` or `correlation-id`"
        )),
    }
}

/// The name of `carrier`.
pub fn carrier_name(carrier: ContextCarrier) -> &'static str {
    match carrier {
        ContextCarrier::Headers => "headers",
        ContextCarrier::CorrelationId => "correlation-id",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn names_round_trip_and_others_are_refused() {
        for carrier in [ContextCarrier::Headers, ContextCarrier::CorrelationId] {
            assert_eq!(parse_carrier(carrier_name(carrier)).unwrap(), carrier);
        }
        assert!(
            parse_carrier("body")
                .unwrap_err()
                .contains("correlation-id")
        );
    }
}

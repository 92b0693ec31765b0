//! The two topics of the pipeline, optionally under a prefix so runs sharing a NATS server stay
//! apart.

use std::sync::Arc;

/// `internal` (marks from the page) and `external` (processed marks).
#[derive(Debug, Clone)]
pub struct Topics {
    /// Where the gateway publishes marks.
    pub internal: Arc<str>,
    /// Where processor publishes processed marks.
    pub external: Arc<str>,
}

impl Topics {
    /// `internal` and `external`, or `{prefix}.internal` and `{prefix}.external`.
    pub fn new(prefix: Option<&str>) -> Self {
        let name = |topic: &str| -> Arc<str> {
            match prefix {
                Some(p) if !p.is_empty() => format!("{p}.{topic}").into(),
                _ => topic.into(),
            }
        };
        Self {
            internal: name("internal"),
            external: name("external"),
        }
    }
}

impl Default for Topics {
    fn default() -> Self {
        Self::new(None)
    }
}

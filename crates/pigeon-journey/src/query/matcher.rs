//! Span matchers: "which spans start or end a flow", by span name (exact or prefix) and
//! optionally service. They are compiled against the symbol table once per query, so
//! matching a head is a couple of integer compares.

use serde::{Deserialize, Serialize};

use crate::compact::Head;
use crate::hash::FastSet;
use crate::intern::{Interner, Sym};

/// How a span name must look.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameMatch {
    /// Any name.
    Any,
    /// Exactly this name.
    Exact(String),
    /// Names starting with this (e.g. `send ` for every bus send).
    Prefix(String),
}

/// Matches spans by name and, optionally, service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanMatcher {
    /// The span name condition.
    pub name: NameMatch,
    /// If set, the span's service must be this one.
    pub service: Option<String>,
}

impl SpanMatcher {
    /// Spans named exactly `name`.
    pub fn name(name: impl Into<String>) -> Self {
        Self {
            name: NameMatch::Exact(name.into()),
            service: None,
        }
    }

    /// Spans whose name starts with `prefix`.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Self {
            name: NameMatch::Prefix(prefix.into()),
            service: None,
        }
    }

    /// Any span of `service`.
    pub fn service(service: impl Into<String>) -> Self {
        Self {
            name: NameMatch::Any,
            service: Some(service.into()),
        }
    }

    /// Also requires the span's service to be `service`.
    pub fn in_service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    pub(crate) fn compile(&self, interner: &Interner) -> Compiled {
        let names = match &self.name {
            NameMatch::Any => None,
            NameMatch::Exact(n) => Some(interner.lookup(n).into_iter().collect()),
            NameMatch::Prefix(p) => Some(interner.with_prefix(p).into_iter().collect()),
        };
        let service = self.service.as_ref().map(|s| interner.lookup(s));
        Compiled { names, service }
    }
}

/// A matcher resolved to symbols.
#[derive(Debug)]
pub(crate) struct Compiled {
    /// `None`: any name.
    names: Option<FastSet<Sym>>,
    /// `Some(None)`: a service that was never seen, so nothing matches.
    service: Option<Option<Sym>>,
}

impl Compiled {
    pub(crate) fn matches(&self, head: &Head) -> bool {
        let name_ok = self.names.as_ref().is_none_or(|n| n.contains(&head.name));
        let service_ok = match self.service {
            None => true,
            Some(s) => s == Some(head.service),
        };
        name_ok && service_ok
    }
}

//! Message headers: an ordered, small list of lowercase names and string values.
//!
//! Headers are where W3C trace context (`traceparent`, `tracestate`, `baggage`) rides, so they
//! implement OpenTelemetry's [`Injector`] and [`Extractor`]. A list beats a map here: a message
//! carries a handful of headers, and a linear scan of three entries is faster than hashing.

use opentelemetry::propagation::{Extractor, Injector};

/// The headers of one message. Names are case-insensitive and stored lowercase.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(String, String)>,
}

impl Headers {
    /// Empty headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`, replacing an earlier value of the same name.
    pub fn insert(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.position(name) {
            Some(i) => self.entries[i].1 = value,
            None => self.entries.push((name.to_ascii_lowercase(), value)),
        }
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name).map(|i| self.entries[i].1.as_str())
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.position(name).map(|i| self.entries.remove(i).1)
    }

    /// All entries, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes the names and values take, for size limits.
    pub fn encoded_len(&self) -> usize {
        self.entries
            .iter()
            .map(|(k, v)| k.len() + v.len() + 4)
            .sum()
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(name))
    }
}

impl Injector for Headers {
    /// Skips empty values: propagators write an empty `tracestate` when there is none, and an
    /// empty header only costs bytes on every hop.
    fn set(&mut self, key: &str, value: String) {
        if !value.is_empty() {
            self.insert(key, value);
        }
    }
}

impl Extractor for Headers {
    fn get(&self, key: &str) -> Option<&str> {
        Headers::get(self, key)
    }

    fn keys(&self) -> Vec<&str> {
        self.entries.iter().map(|(k, _)| k.as_str()).collect()
    }
}

impl<K: AsRef<str>, V: Into<String>> FromIterator<(K, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut headers = Headers::new();
        for (k, v) in iter {
            headers.insert(k.as_ref(), v);
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive_and_replace() {
        let mut h = Headers::new();
        h.insert("TraceParent", "a");
        h.insert("traceparent", "b");
        assert_eq!(h.len(), 1);
        assert_eq!(h.get("TRACEPARENT"), Some("b"));
        assert_eq!(h.iter().next(), Some(("traceparent", "b")));
    }

    #[test]
    fn injector_skips_empty_values() {
        let mut h = Headers::new();
        Injector::set(&mut h, "tracestate", String::new());
        Injector::set(&mut h, "traceparent", "x".into());
        assert_eq!(Extractor::keys(&h), vec!["traceparent"]);
    }

    #[test]
    fn remove_returns_value() {
        let mut h: Headers = [("a", "1"), ("b", "2")].into_iter().collect();
        assert_eq!(h.remove("A").as_deref(), Some("1"));
        assert_eq!(h.get("a"), None);
        assert_eq!(h.len(), 1);
    }
}

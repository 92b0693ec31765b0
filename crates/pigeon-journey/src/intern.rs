//! String interning: service names, span names, event names and attribute keys are stored
//! once and referred to by a 4-byte [`Sym`].
//!
//! Those strings have low cardinality (a few hundred distinct values in a deployment) and
//! repeat on every span, so interning is what keeps a stored span near 200 bytes instead of
//! near a kilobyte. Symbols are never freed: the table only grows, which is why the store
//! caps how many attribute *values* it interns (see [`Interner::intern_value`]) — values
//! such as message ids are unique per message and would grow the table without bound.

use std::borrow::Cow;
use std::sync::Arc;

use crate::hash::{FastMap, table_bytes};

/// An interned string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Sym(pub(crate) u32);

/// Slots of the lookup cache in front of the map (a power of two).
const CACHE_SLOTS: usize = 1024;
/// Slots of the cache of static keys by address (a power of two).
const STATIC_SLOTS: usize = 256;

/// The symbol table.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    /// Direct-mapped cache: slot (from a cheap hash of length and end bytes) → symbol + 1
    /// (0 = empty). A hit costs one compare of the text instead of hashing it in full and
    /// probing the map; keys and names repeat on every span, so almost every lookup hits.
    cache: Vec<u32>,
    /// Cache for `&'static str` keys by address: instrumentation passes the same literal on
    /// every span, so a hit is one compare of pointer and length and no text compare at all.
    static_cache: Vec<(usize, usize, Sym)>,
    by_text: FastMap<Arc<str>, Sym>,
    texts: Vec<Arc<str>>,
    /// Symbols handed out for attribute values, counted against `value_cap`.
    values: usize,
    value_cap: usize,
    /// Heap bytes of the interned texts, for memory accounting.
    text_bytes: usize,
}

/// Attribute values longer than this are never interned: they are almost surely unique.
const MAX_INTERNED_VALUE_LEN: usize = 48;

impl Interner {
    /// A table that interns at most `value_cap` distinct attribute values.
    pub(crate) fn new(value_cap: usize) -> Self {
        Self {
            value_cap,
            ..Self::default()
        }
    }

    #[inline]
    fn slot(text: &str) -> usize {
        let b = text.as_bytes();
        let n = b.len();
        let mut w = [0u8; 8];
        let head = n.min(8);
        w[..head].copy_from_slice(&b[..head]);
        let first = u64::from_le_bytes(w);
        let mut w = [0u8; 8];
        w[..head].copy_from_slice(&b[n - head..]);
        let last = u64::from_le_bytes(w);
        let h = (first ^ last.rotate_left(29) ^ (n as u64).wrapping_mul(0x9e37_79b9))
            .wrapping_mul(0x2545_f491_4f6c_dd1d);
        (h >> 54) as usize & (CACHE_SLOTS - 1)
    }

    #[inline]
    fn cached(&self, text: &str) -> Option<(usize, Option<Sym>)> {
        if self.cache.is_empty() {
            return None;
        }
        let slot = Self::slot(text);
        let hit = match self.cache[slot] {
            0 => None,
            s => {
                let sym = Sym(s - 1);
                (self.resolve(sym) == text).then_some(sym)
            }
        };
        Some((slot, hit))
    }

    /// The symbol of `text` if interned, via the cache.
    #[inline]
    fn find(&mut self, text: &str) -> Option<Sym> {
        if self.cache.is_empty() {
            self.cache = vec![0; CACHE_SLOTS];
        }
        let (slot, hit) = self.cached(text)?;
        if hit.is_some() {
            return hit;
        }
        let sym = self.by_text.get(text).copied()?;
        self.cache[slot] = sym.0 + 1;
        Some(sym)
    }

    /// The symbol for `text`, adding it if new.
    pub(crate) fn intern(&mut self, text: &str) -> Sym {
        if let Some(sym) = self.find(text) {
            return sym;
        }
        self.insert(text)
    }

    /// The symbol for an attribute key; static keys are looked up by address first.
    #[inline]
    #[allow(
        clippy::ptr_arg,
        reason = "whether the key is borrowed ('static) or owned is the point"
    )]
    pub(crate) fn intern_key(&mut self, key: &Cow<'static, str>) -> Sym {
        let Cow::Borrowed(text) = key else {
            return self.intern(key);
        };
        if self.static_cache.is_empty() {
            self.static_cache = vec![(0, 0, Sym(0)); STATIC_SLOTS];
        }
        let addr = text.as_ptr() as usize;
        let slot =
            ((addr as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize & (STATIC_SLOTS - 1);
        let (a, n, sym) = self.static_cache[slot];
        if a == addr && n == text.len() {
            return sym;
        }
        let sym = self.intern(text);
        self.static_cache[slot] = (addr, text.len(), sym);
        sym
    }

    fn insert(&mut self, text: &str) -> Sym {
        let sym = Sym(self.texts.len() as u32);
        let arc: Arc<str> = Arc::from(text);
        self.text_bytes += text.len() + 16;
        self.texts.push(arc.clone());
        self.by_text.insert(arc, sym);
        sym
    }

    /// The symbol for an attribute value if it is already interned or there is room to
    /// intern it; `None` means "store it inline".
    pub(crate) fn intern_value(&mut self, text: &str) -> Option<Sym> {
        if let Some(sym) = self.find(text) {
            return Some(sym);
        }
        if text.len() > MAX_INTERNED_VALUE_LEN || self.values >= self.value_cap {
            return None;
        }
        self.values += 1;
        Some(self.insert(text))
    }

    /// The symbol for `text` if it was interned.
    pub(crate) fn lookup(&self, text: &str) -> Option<Sym> {
        self.by_text.get(text).copied()
    }

    /// The text of a symbol. Unknown symbols (only possible with corrupted input) read as "".
    pub(crate) fn resolve(&self, sym: Sym) -> &str {
        self.texts.get(sym.0 as usize).map_or("", |s| s)
    }

    /// Every symbol whose text starts with `prefix`.
    pub(crate) fn with_prefix(&self, prefix: &str) -> Vec<Sym> {
        self.texts
            .iter()
            .enumerate()
            .filter(|(_, t)| t.starts_with(prefix))
            .map(|(i, _)| Sym(i as u32))
            .collect()
    }

    /// Heap bytes held by the table (texts, vector and map).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.text_bytes
            + self.cache.capacity() * 4
            + self.static_cache.capacity() * std::mem::size_of::<(usize, usize, Sym)>()
            + self.texts.capacity() * std::mem::size_of::<Arc<str>>()
            + table_bytes(
                self.by_text.capacity(),
                std::mem::size_of::<(Arc<str>, Sym)>(),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_once_and_resolves() {
        let mut i = Interner::new(2);
        let a = i.intern("messaging.system");
        let b = i.intern("messaging.system");
        assert_eq!(a, b);
        assert_eq!(i.resolve(a), "messaging.system");
        assert_eq!(i.lookup("nope"), None);
        assert_eq!(i.resolve(Sym(99)), "");
    }

    #[test]
    fn static_and_owned_keys_agree() {
        let mut i = Interner::new(0);
        let a = i.intern_key(&Cow::Borrowed("message.id"));
        let b = i.intern_key(&Cow::Owned("message.id".to_owned()));
        let c = i.intern_key(&Cow::Borrowed("message.id"));
        assert_eq!((a, b), (c, c));
        assert_ne!(i.intern_key(&Cow::Borrowed("message")), a);
    }

    #[test]
    fn value_interning_is_capped() {
        let mut i = Interner::new(2);
        assert!(i.intern_value("nats").is_some());
        assert!(i.intern_value("publish").is_some());
        assert!(
            i.intern_value("nats").is_some(),
            "known values stay interned"
        );
        assert_eq!(i.intern_value("third"), None);
        assert_eq!(i.intern_value(&"x".repeat(100)), None);
    }

    #[test]
    fn prefix_search() {
        let mut i = Interner::new(0);
        let a = i.intern("send orders");
        i.intern("process orders");
        let c = i.intern("send dm");
        assert_eq!(i.with_prefix("send "), vec![a, c]);
    }
}

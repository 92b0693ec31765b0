//! A small, fast, non-cryptographic hasher for the store's hash maps.
//!
//! The store hashes millions of short keys (interned strings, trace ids, value hashes) on the
//! ingest path; SipHash's DoS resistance costs several times more and buys nothing here,
//! because a hostile producer can already fill the store. The mixing follows the FxHash idea
//! (one multiply per 8-byte word; here a folded 128-bit multiply) with a murmur3 finalizer so that low and high bits are both
//! usable by hashbrown.

use std::hash::{BuildHasherDefault, Hasher};

const K: u64 = 0x5851_f42d_4c95_7f2d;

/// Folded-multiply hasher over 8-byte words.
#[derive(Clone, Copy)]
pub(crate) struct FastHasher {
    h: u64,
}

const SEED: u64 = 0x243f_6a88_85a3_08d3;

impl Default for FastHasher {
    fn default() -> Self {
        Self { h: SEED }
    }
}

impl FastHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        // Folded multiply (as in aHash's fallback): the 128-bit product's halves xored.
        let r = u128::from(self.h ^ w) * u128::from(K);
        self.h = (r as u64) ^ ((r >> 64) as u64);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
        // The length, so that "ab" and "ab\0" differ.
        self.add(bytes.len() as u64);
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        fmix64(self.h)
    }
}

/// murmur3's 64-bit finalizer: spreads every input bit over the output.
#[inline]
pub(crate) fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// `BuildHasher` for the store's maps.
pub(crate) type FastBuild = BuildHasherDefault<FastHasher>;

/// A `HashMap` with [`FastHasher`].
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, FastBuild>;

/// A `HashSet` with [`FastHasher`].
pub(crate) type FastSet<K> = std::collections::HashSet<K, FastBuild>;

/// Hash of a value's text form, the key of the value index.
#[inline]
pub(crate) fn hash_text(text: &str) -> u64 {
    let mut h = FastHasher::default();
    h.write(text.as_bytes());
    h.finish()
}

/// Heap bytes of a hashbrown table reporting `capacity` usable slots of `entry` bytes each
/// (buckets are a power of two at ≤ 7/8 load, plus one control byte per bucket).
pub(crate) fn table_bytes(capacity: usize, entry: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = if capacity < 8 {
        (capacity + 1).next_power_of_two()
    } else {
        (capacity * 8 / 7).next_power_of_two()
    };
    buckets * (entry + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn different_texts_hash_differently() {
        let mut seen = FastSet::default();
        for i in 0..100_000 {
            assert!(seen.insert(hash_text(&format!("msg-{i}"))));
        }
        assert_eq!(hash_text("abc"), hash_text("abc"));
        assert_ne!(hash_text("abc"), hash_text("abc\0"));
        assert_ne!(hash_text("msg-100"), hash_text("msg-1008"));
    }
}

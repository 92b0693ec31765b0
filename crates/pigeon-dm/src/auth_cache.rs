//! Recently authenticated tokens, so a busy device's requests skip the store's look-up.
//!
//! Keyed by the token's SHA-256 (the token itself is not kept), each entry trusted for a short
//! time. Removing a device on this node forgets its entries at once; another node notices
//! within the entry lifetime. Bounded: when full, it starts over.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pigeon_store::{DeviceId, UserId};
use sha2::{Digest as _, Sha256};

/// How long a cached authentication is trusted.
const LIFETIME: Duration = Duration::from_secs(30);
/// Most tokens remembered.
const CAPACITY: usize = 100_000;

type Key = [u8; 32];

#[derive(Default)]
pub(crate) struct AuthCache {
    entries: Mutex<HashMap<Key, (UserId, DeviceId, Instant)>>,
}

impl AuthCache {
    fn key(token: &str) -> Key {
        Sha256::digest(token.as_bytes()).into()
    }

    pub(crate) fn get(&self, token: &str) -> Option<(UserId, DeviceId)> {
        let key = Self::key(token);
        let entries = self.lock();
        entries
            .get(&key)
            .filter(|(_, _, at)| at.elapsed() < LIFETIME)
            .map(|(u, d, _)| (u.clone(), d.clone()))
    }

    pub(crate) fn put(&self, token: &str, user: UserId, device: DeviceId) {
        let key = Self::key(token);
        let mut entries = self.lock();
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(key, (user, device, Instant::now()));
    }

    /// Forgets every cached token of `device`.
    pub(crate) fn forget_device(&self, device: &DeviceId) {
        self.lock().retain(|_, (_, d, _)| d != device);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, (UserId, DeviceId, Instant)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

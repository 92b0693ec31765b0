//! The device's end-to-end state: its Olm account, its sessions with each peer device, and
//! the identity keys of the peers it has met. One lock: Olm state is small and every operation
//! on it is short and synchronous.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use pigeon_crypto::{Device, DeviceKeys, PeerDevice, SessionStore};

pub(crate) struct Crypto {
    pub(crate) device: Device,
    pub(crate) sessions: SessionStore,
    /// Identity keys of peer devices, verified when they were first used.
    pub(crate) identities: HashMap<PeerDevice, DeviceKeys>,
}

pub(crate) struct CryptoCell(Mutex<Crypto>);

impl CryptoCell {
    pub(crate) fn new(device: Device) -> Self {
        Self(Mutex::new(Crypto {
            device,
            sessions: SessionStore::new(),
            identities: HashMap::new(),
        }))
    }

    pub(crate) fn with_state(crypto: Crypto) -> Self {
        Self(Mutex::new(crypto))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Crypto> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

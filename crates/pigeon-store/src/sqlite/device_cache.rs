//! The writer's memory of who owns a device and which devices a user has.
//!
//! Every send asks both (is the sender a current device, whose is it; which devices do the
//! recipient and the sender have), and every delivery receipt asks for the sender's devices
//! again: ~13 % of the writer's CPU in a profile under `pigeon bench dm`, for answers that
//! change only when a device is added or removed. Those changes, like every write, run on the
//! writer, so the writer can keep the answers: a request that changes a user's devices forgets
//! that user, and a rolled-back group commit forgets everything (its requests may have read
//! rows that are gone). Readers never use it; they ask SQLite.
//!
//! Only answers about current devices are kept: an unknown or removed device, or a user with
//! no device, is asked again every time (those are refusals, not the hot path). The cache is
//! emptied when it grows past [`MAX_ENTRIES`] rather than evicting one by one: refilling costs
//! one query per active user.

use std::collections::HashMap;

use rusqlite::Connection;

use super::accounts;
use crate::error::StoreError;
use crate::types::{DeviceId, UserId};

/// Devices plus users held before the cache starts again from empty.
const MAX_ENTRIES: usize = 100_000;

/// Owners of current devices and current devices of users, as committed (see the module doc).
#[derive(Debug, Default)]
pub(super) struct DeviceCache {
    owners: HashMap<DeviceId, UserId>,
    devices: HashMap<UserId, Vec<DeviceId>>,
}

impl DeviceCache {
    /// The owner of a current device; `NotFound` otherwise.
    pub(super) fn owner_of(
        &mut self,
        conn: &Connection,
        device: &DeviceId,
    ) -> Result<UserId, StoreError> {
        if let Some(owner) = self.owners.get(device) {
            return Ok(owner.clone());
        }
        let owner = accounts::owner_of(conn, device)?;
        self.make_room();
        self.owners.insert(device.clone(), owner.clone());
        Ok(owner)
    }

    /// The user's current devices, sorted by id (empty for an unknown user).
    pub(super) fn current_devices(
        &mut self,
        conn: &Connection,
        user: &UserId,
    ) -> Result<Vec<DeviceId>, StoreError> {
        if let Some(devices) = self.devices.get(user) {
            return Ok(devices.clone());
        }
        let devices = accounts::current_devices(conn, user)?;
        if !devices.is_empty() {
            self.make_room();
            self.devices.insert(user.clone(), devices.clone());
        }
        Ok(devices)
    }

    /// Forgets what is known of `user`: call when the user's devices change. Scans every
    /// cached owner, which is fine for something as rare as adding or removing a device.
    pub(super) fn forget_user(&mut self, user: &UserId) {
        self.devices.remove(user);
        self.owners.retain(|_, owner| owner != user);
    }

    /// Forgets everything: call when a group commit rolls back.
    pub(super) fn clear(&mut self) {
        self.owners.clear();
        self.devices.clear();
    }

    fn make_room(&mut self) {
        if self.owners.len() + self.devices.len() >= MAX_ENTRIES {
            self.clear();
        }
    }
}

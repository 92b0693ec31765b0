//! The rule every store applies to a send's copies: exactly one per current device of the
//! recipient and of the sender's other devices. Stores read the device lists their own way;
//! the rule, and the `StaleDevices` answer that lets the client refresh and retry, is one.

use std::collections::BTreeSet;

use crate::error::{SendError, StaleDevices, UserDevices};
use crate::types::{DeviceId, SendRequest, UserId};

impl SendRequest {
    /// Checks the copies against the current devices of the recipient and of `sender_user`
    /// (the sending device among them or not): `Invalid` for two copies to one device or no
    /// one to deliver to, `StaleDevices` with both current lists when the targets differ.
    pub fn check_targets(
        &self,
        sender_user: &UserId,
        recipient_devices: Vec<DeviceId>,
        sender_devices: Vec<DeviceId>,
    ) -> Result<(), SendError> {
        let mut given = BTreeSet::new();
        for copy in &self.copies {
            if !given.insert(&copy.device_id) {
                return Err(SendError::Invalid("two copies for one device"));
            }
        }
        let others = |devices: Vec<DeviceId>| -> Vec<DeviceId> {
            devices
                .into_iter()
                .filter(|d| *d != self.sender_device)
                .collect()
        };
        let (recipient_devices, own_devices) = (others(recipient_devices), others(sender_devices));
        let expected: BTreeSet<&DeviceId> =
            recipient_devices.iter().chain(own_devices.iter()).collect();
        if expected.is_empty() {
            return Err(SendError::Invalid("nobody to deliver to"));
        }
        if given == expected {
            return Ok(());
        }
        let mut current = vec![UserDevices {
            user_id: self.recipient_user.clone(),
            devices: recipient_devices,
        }];
        if *sender_user != self.recipient_user {
            current.push(UserDevices {
                user_id: sender_user.clone(),
                devices: own_devices,
            });
        }
        Err(SendError::StaleDevices(StaleDevices { current }))
    }
}

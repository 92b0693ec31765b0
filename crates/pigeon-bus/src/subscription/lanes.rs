//! Per-key order for backends that hand out messages of one key concurrently (NATS).
//!
//! A message with a key starts only when no earlier message with that key is running here; the
//! later ones wait in the key's lane, in arrival order, and count against `max_in_flight`.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::Delivery;

#[derive(Default)]
pub(crate) struct Lanes {
    /// A key is present while a message with it runs; its queue holds the ones waiting.
    lanes: HashMap<Arc<str>, VecDeque<Delivery>>,
}

impl Lanes {
    /// Returns the delivery when it may start now, or keeps it waiting.
    pub(crate) fn admit(&mut self, delivery: Delivery) -> Option<Delivery> {
        let Some(key) = delivery.envelope.key.clone() else {
            return Some(delivery);
        };
        match self.lanes.entry(key) {
            Entry::Occupied(mut lane) => {
                lane.get_mut().push_back(delivery);
                None
            }
            Entry::Vacant(lane) => {
                lane.insert(VecDeque::new());
                Some(delivery)
            }
        }
    }

    /// The message with `key` finished: returns the next one of its lane to start.
    pub(crate) fn finish(&mut self, key: &Arc<str>) -> Option<Delivery> {
        let lane = self.lanes.get_mut(key)?;
        let next = lane.pop_front();
        if next.is_none() {
            self.lanes.remove(key);
        }
        next
    }

    /// True when no message waits.
    pub(crate) fn nobody_waits(&self) -> bool {
        self.lanes.values().all(VecDeque::is_empty)
    }

    /// The messages waiting, to keep their ack deadlines alive.
    pub(crate) fn waiting(&self) -> impl Iterator<Item = &Delivery> {
        self.lanes.values().flatten()
    }

    /// Takes every waiting message out (at shutdown, to hand them back).
    pub(crate) fn take_waiting(&mut self) -> Vec<Delivery> {
        self.lanes.values_mut().flat_map(|l| l.drain(..)).collect()
    }
}

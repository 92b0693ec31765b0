//! Which device has a live session on this node. One session per device: a new connection
//! replaces the old one, whose loop then ends.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use opentelemetry::Context;
use pigeon_store::DeviceId;
use tokio::sync::Notify;

use crate::delivery::PendingDelivery;

/// Trace hints queued per session at most; beyond that a wake still happens, only the hint
/// (the delivery's trace context, and its `messaging.deliver` ends without an outcome) is
/// dropped.
const HINTS: usize = 256;

/// A delivery the router announced: the entry's seq, the trace context it was routed in, and
/// for a message its delivery, which the session ends at the ack (or hands to push).
pub(crate) struct Hint {
    pub(crate) seq: u64,
    pub(crate) route: Context,
    pub(crate) delivery: Option<PendingDelivery>,
}

/// Where the router leaves word for one session. Small on purpose — every idle connection
/// holds one: an empty queue allocates nothing (a channel would allocate a block of slots up
/// front).
#[derive(Default)]
pub(crate) struct Inbox {
    hints: Mutex<VecDeque<Hint>>,
    wake: Notify,
}

impl Inbox {
    /// Waits for the next wake-up.
    pub(crate) async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Takes the queued hints, leaving no buffer behind.
    pub(crate) fn take_hints(&self) -> VecDeque<Hint> {
        std::mem::take(&mut *self.hints.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// How the router reaches a live session.
#[derive(Clone)]
pub(crate) struct SessionHandle {
    pub(crate) id: u64,
    pub(crate) started: Instant,
    inbox: Arc<Inbox>,
}

impl SessionHandle {
    /// Tells the session there is something new in its mailbox. The session always reads the
    /// mailbox itself, so a dropped hint loses a trace link, never a message.
    pub(crate) fn wake(&self, hint: Option<Hint>) {
        if let Some(hint) = hint {
            let mut hints = self
                .inbox
                .hints
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if hints.len() < HINTS {
                hints.push_back(hint);
            }
        }
        self.inbox.wake.notify_one();
    }
}

/// The live sessions of this node.
#[derive(Default)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<DeviceId, SessionHandle>>,
    next_id: AtomicU64,
}

impl Sessions {
    /// Registers a new session of `device`, replacing (and waking, so it sees it was
    /// replaced) the one before; returns its id and inbox.
    pub(crate) fn register(&self, device: &DeviceId) -> (u64, Arc<Inbox>) {
        let inbox = Arc::new(Inbox::default());
        let handle = SessionHandle {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            started: Instant::now(),
            inbox: inbox.clone(),
        };
        let id = handle.id;
        if let Some(replaced) = self.lock().insert(device.clone(), handle) {
            replaced.inbox.wake.notify_one();
        }
        (id, inbox)
    }

    /// Removes the device's session if it is still `id` (a newer one may have replaced it);
    /// says whether it did.
    pub(crate) fn unregister(&self, device: &DeviceId, id: u64) -> bool {
        let mut map = self.lock();
        let current = map.get(device).is_some_and(|h| h.id == id);
        if current {
            map.remove(device);
        }
        current
    }

    pub(crate) fn get(&self, device: &DeviceId) -> Option<SessionHandle> {
        self.lock().get(device).cloned()
    }

    /// True while `id` is the device's current session.
    pub(crate) fn is_current(&self, device: &DeviceId, id: u64) -> bool {
        self.lock().get(device).is_some_and(|h| h.id == id)
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<DeviceId, SessionHandle>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

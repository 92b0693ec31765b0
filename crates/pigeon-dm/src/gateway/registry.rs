//! Which device has a live session on this node. One session per device: a new connection
//! replaces the old one, whose loop then ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use opentelemetry::Context;
use pigeon_store::DeviceId;
use tokio::sync::{Notify, mpsc};

/// Trace hints queued per session at most; beyond that a wake still happens, only the hint
/// (the delivery's trace context) is dropped.
const HINTS: usize = 256;

/// A delivery the router announced: the entry's seq and the trace context it was routed in.
pub(crate) struct Hint {
    pub(crate) seq: u64,
    pub(crate) route: Context,
}

/// How the router reaches a live session.
#[derive(Clone)]
pub(crate) struct SessionHandle {
    pub(crate) id: u64,
    pub(crate) started: Instant,
    hints: mpsc::Sender<Hint>,
    wake: Arc<Notify>,
}

impl SessionHandle {
    /// Tells the session there is something new in its mailbox. The session always reads the
    /// mailbox itself, so a dropped hint loses a trace link, never a message.
    pub(crate) fn wake(&self, hint: Option<Hint>) {
        if let Some(hint) = hint {
            let _ = self.hints.try_send(hint);
        }
        self.wake.notify_one();
    }
}

/// What a session keeps to hear from the router.
pub(crate) struct SessionInbox {
    pub(crate) handle: SessionHandle,
    pub(crate) hints: mpsc::Receiver<Hint>,
    pub(crate) wake: Arc<Notify>,
}

/// The live sessions of this node.
#[derive(Default)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<DeviceId, SessionHandle>>,
    next_id: AtomicU64,
}

impl Sessions {
    pub(crate) fn register(&self, device: &DeviceId) -> SessionInbox {
        let (tx, hints) = mpsc::channel(HINTS);
        let wake = Arc::new(Notify::new());
        let handle = SessionHandle {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            started: Instant::now(),
            hints: tx,
            wake: wake.clone(),
        };
        self.lock().insert(device.clone(), handle.clone());
        SessionInbox {
            handle,
            hints,
            wake,
        }
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
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

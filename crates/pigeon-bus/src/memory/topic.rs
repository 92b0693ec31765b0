//! One topic: its log of messages and the groups consuming it.
//!
//! The log keeps every message until every group has settled it, bounded by the topic's limits:
//! with no group yet, the oldest messages make room (like a stream's limits retention); once a
//! group exists, publishers wait for room instead, so nothing a group has not seen is dropped.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::Notify;

use super::group::{GroupState, Handed, Settle};
use crate::Envelope;

/// Limits of one topic.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_messages: usize,
    pub(crate) max_bytes: usize,
}

pub(crate) struct Topic {
    state: Mutex<TopicState>,
    /// Publishers waiting for room.
    pub(crate) room: Notify,
    /// How many publishers wait on `room`; settling skips the wake-up when none do.
    pub(crate) room_waiters: std::sync::atomic::AtomicUsize,
    limits: Limits,
}

pub(crate) struct TopicState {
    pub(crate) log: VecDeque<Arc<Envelope>>,
    pub(crate) base: u64,
    bytes: usize,
    /// Groups in the order they joined; consumers address theirs by index (no hashing on the
    /// hot path), and there are few, so look-ups by name scan.
    pub(crate) groups: Vec<(Arc<str>, GroupState)>,
}

/// Whether a publish found room.
pub(crate) enum Appended {
    Yes,
    Full,
}

impl Topic {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            state: Mutex::new(TopicState {
                log: VecDeque::new(),
                base: 0,
                bytes: 0,
                groups: Vec::new(),
            }),
            room: Notify::new(),
            room_waiters: std::sync::atomic::AtomicUsize::new(0),
            limits,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, TopicState> {
        // A panic while holding this lock leaves consistent state behind (every mutation is
        // a few field updates), so a poisoned lock is still safe to use.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends unless the topic is full and a group still needs its oldest messages.
    pub(crate) fn append(&self, envelope: Arc<Envelope>) -> Appended {
        let size = envelope.encoded_len();
        let mut state = self.lock();
        if state.is_full(self.limits, size) {
            if !state.groups.is_empty() {
                return Appended::Full;
            }
            while state.is_full(self.limits, size) && state.drop_oldest() {}
        }
        state.bytes += size;
        state.log.push_back(envelope);
        for (_, group) in &state.groups {
            group.notify.notify_one();
        }
        Appended::Yes
    }

    /// Waits up to `limit` for `room` (a `self.room.notified()` taken before the last try).
    pub(crate) async fn wait_for_room(
        &self,
        limit: std::time::Duration,
        room: tokio::sync::futures::Notified<'_>,
    ) {
        use std::sync::atomic::Ordering;
        self.room_waiters.fetch_add(1, Ordering::AcqRel);
        let _ = tokio::time::timeout(limit, room).await;
        self.room_waiters.fetch_sub(1, Ordering::AcqRel);
    }

    /// True when a publish of `size` bytes would have to wait for room.
    pub(crate) fn lock_is_full(&self, size: usize) -> bool {
        let state = self.lock();
        !state.groups.is_empty() && state.is_full(self.limits, size)
    }

    /// Appends a message the durable log has committed: never refused (it was accepted), the
    /// oldest messages make room when no group needs them.
    pub(crate) fn append_committed(&self, envelope: Arc<Envelope>) {
        if let Appended::Full = self.append(envelope.clone()) {
            self.append_unchecked(envelope);
        }
    }

    /// Appends without checking limits (replay of a durable log).
    pub(crate) fn append_unchecked(&self, envelope: Arc<Envelope>) {
        let mut state = self.lock();
        state.bytes += envelope.encoded_len();
        state.log.push_back(envelope);
        for (_, group) in &state.groups {
            group.notify.notify_one();
        }
    }

    /// Joins `group`, created at the oldest retained offset if new. Returns its index, its
    /// notifier and whether it was created.
    pub(crate) fn join(&self, group: &Arc<str>) -> (usize, Arc<Notify>, bool) {
        let mut state = self.lock();
        if let Some(index) = state.group_index(group) {
            return (index, state.groups[index].1.notify.clone(), false);
        }
        let created = GroupState::new(state.base);
        let notify = created.notify.clone();
        state.groups.push((group.clone(), created));
        (state.groups.len() - 1, notify, true)
    }

    /// Hands out up to `max` messages of `group`.
    pub(crate) fn take(
        &self,
        group: usize,
        max: usize,
        ack_deadline: std::time::Duration,
    ) -> (Vec<Handed>, Option<Instant>, bool) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some((_, g)) = state.groups.get_mut(group) else {
            return (Vec::new(), None, false);
        };
        let (handed, due) = g.take(&state.log, state.base, max, Instant::now(), ack_deadline);
        let more = g.has_ready(state.base + state.log.len() as u64);
        (handed, due, more)
    }

    /// Settles one delivery; trims what every group has settled. Returns the envelope when the
    /// settlement took effect (not stale).
    pub(crate) fn settle(&self, group: usize, offset: u64, token: u64, how: Settle) -> bool {
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some((_, g)) = state.groups.get_mut(group) else {
            return false;
        };
        let done = g.settle(offset, token, how, &state.log, state.base);
        if done {
            // A delayed retry sets a new wake-up time that a waiting consumer has not seen.
            let wake = g.has_ready(state.base + state.log.len() as u64)
                || matches!(how, Settle::Nack(delay) if !delay.is_zero());
            let notify = g.notify.clone();
            if matches!(how, Settle::Ack | Settle::Term)
                && state.trim()
                && self.room_waiters.load(std::sync::atomic::Ordering::Acquire) > 0
            {
                self.room.notify_waiters();
            }
            if wake {
                notify.notify_one();
            }
        }
        done
    }

    /// Replays a settlement: marks `offset` settled in `group` and trims.
    pub(crate) fn replay_settle(&self, group: &str, offset: u64) {
        let mut state = self.lock();
        if let Some(index) = state.group_index(group) {
            state.groups[index].1.mark_settled(offset);
            state.trim();
        }
    }

    /// Wakes every consumer (at shutdown).
    pub(crate) fn wake_all(&self) {
        for (_, group) in &self.lock().groups {
            group.notify.notify_waiters();
            group.notify.notify_one();
        }
    }
}

impl TopicState {
    fn group_index(&self, name: &str) -> Option<usize> {
        self.groups.iter().position(|(n, _)| &**n == name)
    }

    fn is_full(&self, limits: Limits, incoming: usize) -> bool {
        !self.log.is_empty()
            && (self.log.len() >= limits.max_messages || self.bytes + incoming > limits.max_bytes)
    }

    fn drop_oldest(&mut self) -> bool {
        match self.log.pop_front() {
            Some(old) => {
                self.bytes -= old.encoded_len();
                self.base += 1;
                true
            }
            None => false,
        }
    }

    /// Drops messages every group has settled. True when something was dropped.
    fn trim(&mut self) -> bool {
        let Some(low) = self.groups.iter().map(|(_, g)| g.low()).min() else {
            return false;
        };
        let mut trimmed = false;
        while self.base < low && self.drop_oldest() {
            trimmed = true;
        }
        trimmed
    }

    /// Re-trims and requeues after a replay.
    pub(crate) fn finish_replay(&mut self) {
        let (log, base) = (&self.log, self.base);
        for (_, group) in &mut self.groups {
            group.requeue_unsettled(log, base);
        }
        self.trim();
    }
}

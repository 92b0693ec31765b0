//! One consumer group's view of a topic's log: what it has been handed, what is due again, and
//! which keys are held.
//!
//! Offsets below `low` are settled. For offsets in `low..next` a slot says whether the message
//! is settled, out with a consumer (with a token and deadline), or waiting to be handed out
//! again. Keys: a message holds its key from its first delivery until it is settled; later
//! messages of that key wait in `blocked`, so the group sees them in publish order.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::Envelope;

/// How a delivery ends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Settle {
    Ack,
    Term,
    Nack(Duration),
    Progress(Duration),
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    Settled,
    Out {
        token: u64,
        attempt: u32,
        deadline: Instant,
    },
    Waiting {
        attempt: u32,
    },
}

/// A message handed out: its offset, the token its acker settles it with, and the attempt.
pub(crate) struct Handed {
    pub(crate) envelope: Arc<Envelope>,
    pub(crate) offset: u64,
    pub(crate) token: u64,
    pub(crate) attempt: u32,
}

pub(crate) struct GroupState {
    pub(crate) notify: Arc<Notify>,
    next: u64,
    low: u64,
    slots: VecDeque<Slot>,
    ready: BTreeSet<u64>,
    delayed: BinaryHeap<Reverse<(Instant, u64)>>,
    /// (deadline, offset, token) of handed-out messages, sorted by deadline. Settled entries are
    /// pruned from the front as they surface, so this stays about as long as what is out.
    deadlines: VecDeque<(Instant, u64, u64)>,
    held_keys: HashMap<Arc<str>, u64>,
    blocked: HashMap<Arc<str>, VecDeque<u64>>,
    next_token: u64,
}

impl GroupState {
    /// A group that starts at `start`, the oldest offset still in the log.
    pub(crate) fn new(start: u64) -> Self {
        Self {
            notify: Arc::new(Notify::new()),
            next: start,
            low: start,
            slots: VecDeque::new(),
            ready: BTreeSet::new(),
            delayed: BinaryHeap::new(),
            deadlines: VecDeque::new(),
            held_keys: HashMap::new(),
            blocked: HashMap::new(),
            next_token: 1,
        }
    }

    /// Every offset below this is settled in this group.
    pub(crate) fn low(&self) -> u64 {
        self.low
    }

    /// Marks `offset` settled without a delivery (replay of an ack after a restart).
    pub(crate) fn mark_settled(&mut self, offset: u64) {
        while self.next <= offset {
            self.slots.push_back(Slot::Waiting { attempt: 0 });
            self.next += 1;
        }
        if let Some(slot) = self.slot_mut(offset) {
            *slot = Slot::Settled;
        }
        self.advance_low();
    }

    /// After a replay, offsets between `low` and `next` that are not settled must be handed out
    /// again: put them back in line.
    pub(crate) fn requeue_unsettled(&mut self, log: &VecDeque<Arc<Envelope>>, base: u64) {
        let low = self.low;
        let waiting: Vec<u64> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| !matches!(s, Slot::Settled))
            .map(|(i, _)| low + i as u64)
            .collect();
        for offset in waiting {
            self.line_up(offset, log, base);
        }
    }

    /// Hands out up to `max` messages: redeliveries first, then fresh ones, in offset order,
    /// never two of one key at once. Returns them and when the next timer is due.
    pub(crate) fn take(
        &mut self,
        log: &VecDeque<Arc<Envelope>>,
        base: u64,
        max: usize,
        now: Instant,
        ack_deadline: Duration,
    ) -> (Vec<Handed>, Option<Instant>) {
        self.expire(now);
        let mut out = Vec::new();
        while out.len() < max {
            let Some(offset) = self.ready.pop_first() else {
                break;
            };
            if let Some(handed) = self.hand_out(offset, log, base, now + ack_deadline) {
                out.push(handed);
            }
        }
        let end = base + log.len() as u64;
        while out.len() < max && self.next < end {
            let offset = self.next;
            self.next += 1;
            self.slots.push_back(Slot::Waiting { attempt: 0 });
            if self.line_up_fresh(offset, log, base)
                && let Some(handed) = self.hand_out(offset, log, base, now + ack_deadline)
            {
                out.push(handed);
            }
        }
        (out, self.next_due())
    }

    /// True when a consumer asking now would get something.
    pub(crate) fn has_ready(&self, log_end: u64) -> bool {
        !self.ready.is_empty() || self.next < log_end
    }

    /// Settles a delivery. Returns false for a stale token (the message was already redelivered
    /// after its deadline, or settled).
    pub(crate) fn settle(
        &mut self,
        offset: u64,
        token: u64,
        how: Settle,
        log: &VecDeque<Arc<Envelope>>,
        base: u64,
    ) -> bool {
        let Some(slot) = self.slot_mut(offset) else {
            return false;
        };
        let Slot::Out {
            token: current,
            attempt,
            ..
        } = *slot
        else {
            return false;
        };
        if current != token {
            return false;
        }
        match how {
            Settle::Ack | Settle::Term => {
                *slot = Slot::Settled;
                self.release_key(offset, log, base);
                self.advance_low();
            }
            Settle::Nack(delay) => {
                *slot = Slot::Waiting { attempt };
                if delay.is_zero() {
                    self.ready.insert(offset);
                } else {
                    self.delayed.push(Reverse((Instant::now() + delay, offset)));
                }
            }
            Settle::Progress(ack_deadline) => {
                let deadline = Instant::now() + ack_deadline;
                *slot = Slot::Out {
                    token,
                    attempt,
                    deadline,
                };
                self.push_deadline(deadline, offset, token);
            }
        }
        true
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(due, offset, token)) = self.deadlines.front() {
            let out = match self.slot_mut(offset) {
                Some(Slot::Out {
                    token: t, deadline, ..
                }) if *t == token => Some(*deadline),
                _ => None,
            };
            match out {
                // Settled, redelivered or extended: this entry is stale.
                None => {
                    self.deadlines.pop_front();
                }
                Some(_) if due > now => break,
                Some(deadline) => {
                    self.deadlines.pop_front();
                    if deadline <= now
                        && let Some(slot) = self.slot_mut(offset)
                        && let Slot::Out { attempt, .. } = *slot
                    {
                        *slot = Slot::Waiting { attempt };
                        self.ready.insert(offset);
                    }
                }
            }
        }
        while let Some(Reverse((due, offset))) = self.delayed.peek().copied() {
            if due > now {
                break;
            }
            self.delayed.pop();
            self.ready.insert(offset);
        }
    }

    fn next_due(&self) -> Option<Instant> {
        let deadline = self.deadlines.front().map(|(d, _, _)| *d);
        let delayed = self.delayed.peek().map(|Reverse((d, _))| *d);
        match (deadline, delayed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A fresh offset: true when it may go out now, false when its key is held.
    fn line_up_fresh(&mut self, offset: u64, log: &VecDeque<Arc<Envelope>>, base: u64) -> bool {
        let Some(key) = envelope_at(log, base, offset).and_then(|e| e.key.clone()) else {
            return true;
        };
        match self.held_keys.entry(key) {
            std::collections::hash_map::Entry::Occupied(held) => {
                self.blocked
                    .entry(held.key().clone())
                    .or_default()
                    .push_back(offset);
                false
            }
            std::collections::hash_map::Entry::Vacant(free) => {
                free.insert(offset);
                true
            }
        }
    }

    /// Puts an unsettled offset back in line (after a replay), respecting key holds.
    fn line_up(&mut self, offset: u64, log: &VecDeque<Arc<Envelope>>, base: u64) {
        if self.line_up_fresh(offset, log, base) {
            self.ready.insert(offset);
        }
    }

    fn hand_out(
        &mut self,
        offset: u64,
        log: &VecDeque<Arc<Envelope>>,
        base: u64,
        deadline: Instant,
    ) -> Option<Handed> {
        let envelope = envelope_at(log, base, offset)?.clone();
        let token = self.next_token;
        self.next_token += 1;
        let slot = self.slot_mut(offset)?;
        let attempt = match *slot {
            Slot::Waiting { attempt } => attempt + 1,
            Slot::Out { .. } | Slot::Settled => return None,
        };
        *slot = Slot::Out {
            token,
            attempt,
            deadline,
        };
        self.push_deadline(deadline, offset, token);
        Some(Handed {
            envelope,
            offset,
            token,
            attempt,
        })
    }

    fn push_deadline(&mut self, deadline: Instant, offset: u64, token: u64) {
        // Deadlines almost always arrive in order; insert from the back when they do not.
        let at = self.deadlines.len()
            - self
                .deadlines
                .iter()
                .rev()
                .take_while(|(d, _, _)| *d > deadline)
                .count();
        self.deadlines.insert(at, (deadline, offset, token));
    }

    fn release_key(&mut self, offset: u64, log: &VecDeque<Arc<Envelope>>, base: u64) {
        let Some(key) = envelope_at(log, base, offset).and_then(|e| e.key.clone()) else {
            return;
        };
        if self.held_keys.get(&key) != Some(&offset) {
            return;
        }
        let next = self.blocked.get_mut(&key).and_then(VecDeque::pop_front);
        match next {
            Some(next) => {
                self.held_keys.insert(key.clone(), next);
                self.ready.insert(next);
                if self.blocked.get(&key).is_some_and(VecDeque::is_empty) {
                    self.blocked.remove(&key);
                }
            }
            None => {
                self.held_keys.remove(&key);
            }
        }
    }

    fn advance_low(&mut self) {
        while matches!(self.slots.front(), Some(Slot::Settled)) {
            self.slots.pop_front();
            self.low += 1;
        }
    }

    fn slot_mut(&mut self, offset: u64) -> Option<&mut Slot> {
        let index = usize::try_from(offset.checked_sub(self.low)?).ok()?;
        self.slots.get_mut(index)
    }

    /// Whether `offset` is settled in this group (for compaction).
    pub(crate) fn is_settled(&self, offset: u64) -> bool {
        if offset < self.low {
            return true;
        }
        usize::try_from(offset - self.low)
            .ok()
            .and_then(|i| self.slots.get(i))
            .is_some_and(|s| matches!(s, Slot::Settled))
    }
}

fn envelope_at(log: &VecDeque<Arc<Envelope>>, base: u64, offset: u64) -> Option<&Arc<Envelope>> {
    log.get(usize::try_from(offset.checked_sub(base)?).ok()?)
}

//! Cases about reading and acking a mailbox.

use std::collections::BTreeSet;

use super::Harness;
use super::support::{all, person, send, seq_in};
use crate::{DeviceId, MessageId, StoreError, Unacked};

/// `fetch` pages by `after_seq` and `limit` in seq order; an acked entry disappears; acks are
/// idempotent; acking a seq never assigned is `Invalid`.
pub async fn fetch_pages_and_ack_hides(harness: &dyn Harness) {
    let store = harness.open().await;
    let alice = person(&*store, "alice", 1).await;
    let bob = person(&*store, "bob", 1).await;
    let d = bob.devices[0].clone();
    for i in 0..5 {
        send(&*store, &alice, 0, &bob, &format!("m{i}")).await;
    }
    let seqs = |v: Vec<crate::MailboxEntry>| v.into_iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(seqs(store.fetch(d.clone(), 0, 2).await.unwrap()), [1, 2]);
    assert_eq!(seqs(store.fetch(d.clone(), 2, 2).await.unwrap()), [3, 4]);
    assert_eq!(seqs(store.fetch(d.clone(), 4, 10).await.unwrap()), [5]);
    assert!(store.fetch(d.clone(), 5, 10).await.unwrap().is_empty());

    assert!(store.ack(d.clone(), 2).await.unwrap().newly());
    assert!(
        !store.ack(d.clone(), 2).await.unwrap().newly(),
        "ack is idempotent"
    );
    assert!(store.ack(d.clone(), 4).await.unwrap().newly());
    assert_eq!(seqs(all(&*store, &d).await), [1, 3, 5]);
    assert_eq!(store.pending_count(d.clone()).await.unwrap(), 3);
    assert_eq!(seqs(store.fetch(d.clone(), 1, 1).await.unwrap()), [3]);

    for bad in [0, 6, u64::MAX] {
        let err = store.ack(d.clone(), bad).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "ack {bad}: {err:?}");
    }
    // Another device's seq space is its own: carol's device has none assigned.
    let carol = person(&*store, "carol", 1).await;
    assert!(matches!(
        store.ack(carol.devices[0].clone(), 1).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(store.pending_count(d.clone()).await.unwrap(), 3);
    let unknown = DeviceId::generate();
    assert!(matches!(
        store.fetch(unknown.clone(), 0, 10).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.ack(unknown.clone(), 1).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.pending_count(unknown).await,
        Err(StoreError::NotFound(_))
    ));
    // A removed device's mailbox is gone with it.
    store
        .remove_device(bob.user.clone(), d.clone())
        .await
        .unwrap();
    assert!(matches!(
        store.fetch(d, 0, 10).await,
        Err(StoreError::NotFound(_))
    ));
}

/// A randomised interleaving of sends, fetches and acks (several seeds): a fetch never returns
/// an acked entry, returns entries in increasing seq order after `after_seq`, and in the end
/// the mailbox holds exactly what was assigned and not acked.
pub async fn acked_entries_never_return(harness: &dyn Harness) {
    let store = harness.open().await;
    for seed in [1u64, 7, 42, 1234] {
        let alice = person(&*store, "alice", 1).await;
        let bob = person(&*store, "bob", 1).await;
        let d = bob.devices[0].clone();
        let mut rng = XorShift(seed);
        let mut assigned = 0u64;
        let mut acked = BTreeSet::new();
        for step in 0..120 {
            match rng.below(4) {
                0 | 1 => {
                    send(&*store, &alice, 0, &bob, &format!("s{seed}-{step}")).await;
                    assigned += 1;
                }
                2 if assigned > 0 => {
                    let seq = 1 + rng.below(assigned);
                    let newly = store.ack(d.clone(), seq).await.unwrap().newly();
                    assert_eq!(newly, acked.insert(seq), "ack {seq} newly?");
                }
                _ => {
                    let after = rng.below(assigned + 1);
                    let limit = 1 + usize::try_from(rng.below(10)).unwrap();
                    let got = store.fetch(d.clone(), after, limit).await.unwrap();
                    let seqs: Vec<u64> = got.iter().map(|e| e.seq).collect();
                    assert!(seqs.len() <= limit);
                    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
                    for s in &seqs {
                        assert!(*s > after && *s <= assigned, "seq {s} out of range");
                        assert!(!acked.contains(s), "acked seq {s} returned again");
                    }
                    let want: Vec<u64> = (after + 1..=assigned)
                        .filter(|s| !acked.contains(s))
                        .take(limit)
                        .collect();
                    assert_eq!(seqs, want);
                }
            }
        }
        let left: Vec<u64> = all(&*store, &d).await.iter().map(|e| e.seq).collect();
        let want: Vec<u64> = (1..=assigned).filter(|s| !acked.contains(s)).collect();
        assert_eq!(left, want);
        assert_eq!(
            store.pending_count(d).await.unwrap(),
            u64::try_from(want.len()).unwrap()
        );
    }
}

/// A tiny deterministic generator: reproducible cases without a dependency.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// `recent_unacked` lists recent messages with the copies still unacked, oldest first: a copy
/// acked by its device is left out, a message acked everywhere is left out, and `newest = 0`
/// looks at nothing. (Cases share a database, so only this case's messages are looked at.)
pub async fn recent_unacked_lists_copies_still_owed(harness: &dyn Harness) {
    let store = harness.open().await;
    let alice = person(&*store, "alice", 1).await;
    let bob = person(&*store, "bob", 2).await;
    let (d0, d1) = (bob.devices[0].clone(), bob.devices[1].clone());
    let mut sent = Vec::new();
    for i in 0..3 {
        sent.push(send(&*store, &alice, 0, &bob, &format!("owed{i}")).await);
    }
    let mine: Vec<MessageId> = sent.iter().map(|s| s.message_id.clone()).collect();
    let seq_of = |i: usize, device: &DeviceId| seq_in(&sent[i], device);
    // Message 0: acked on d0 only. Message 1: acked on both. Message 2: acked nowhere.
    store.ack(d0.clone(), seq_of(0, &d0)).await.unwrap();
    store.ack(d0.clone(), seq_of(1, &d0)).await.unwrap();
    store.ack(d1.clone(), seq_of(1, &d1)).await.unwrap();

    let found: Vec<Unacked> = store
        .recent_unacked(100_000, 3_600_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|u| mine.contains(&u.message_id))
        .collect();
    let ids: Vec<&MessageId> = found.iter().map(|u| &u.message_id).collect();
    assert_eq!(
        ids,
        [&mine[0], &mine[2]],
        "messages with copies owed, oldest first"
    );
    let targets = |u: &Unacked| u.targets.iter().cloned().collect::<BTreeSet<_>>();
    assert_eq!(
        targets(&found[0]),
        BTreeSet::from([(d1.clone(), seq_of(0, &d1))])
    );
    assert_eq!(
        targets(&found[1]),
        BTreeSet::from([(d0.clone(), seq_of(2, &d0)), (d1.clone(), seq_of(2, &d1))])
    );
    assert!(
        found
            .iter()
            .all(|u| u.sender_user == alice.user && u.recipient_user == bob.user)
    );
    assert!(store.recent_unacked(0, 3_600_000).await.unwrap().is_empty());
}

//! `key_version` and `key_rotated` follow the sending ratchet key exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use pigeon_crypto::{Ciphertext, Conversation, Device, Encrypted};

/// One message of a script: sender, `key_version`, `key_rotated`.
type Step = (char, u64, Option<(u64, u64)>);

/// Alice and Bob before any message: Alice's outbound side only, Bob's side
/// is created when the first message arrives.
struct Chat {
    alice: Device,
    bob: Device,
    a2b: Conversation,
    b2a: Option<Conversation>,
}

impl Chat {
    fn new() -> Self {
        let alice = Device::new();
        let mut bob = Device::new();
        let otk = bob.generate_one_time_keys(1).remove(0);
        let a2b = alice.outbound(&bob.keys(), &otk).unwrap();
        Self {
            alice,
            bob,
            a2b,
            b2a: None,
        }
    }

    fn alice_sends(&mut self) -> Encrypted {
        self.a2b.encrypt(b"from alice").unwrap()
    }

    fn bob_receives(&mut self, message: &Ciphertext) {
        match &mut self.b2a {
            Some(b2a) => {
                b2a.decrypt(message).unwrap();
            }
            None => {
                let (b2a, _) = self
                    .bob
                    .inbound(&self.alice.identity_key(), message)
                    .unwrap();
                self.b2a = Some(b2a);
            }
        }
    }

    fn bob_sends(&mut self) -> Encrypted {
        self.b2a.as_mut().unwrap().encrypt(b"from bob").unwrap()
    }

    /// Run a script of senders with immediate delivery; return each message's
    /// (sender, key_version, key_rotated).
    fn run(&mut self, script: &str) -> Vec<Step> {
        script
            .chars()
            .map(|sender| {
                let sent = if sender == 'A' {
                    let sent = self.alice_sends();
                    self.bob_receives(&sent.ciphertext);
                    sent
                } else {
                    let sent = self.bob_sends();
                    self.a2b.decrypt(&sent.ciphertext).unwrap();
                    sent
                };
                (sender, sent.key_version, sent.key_rotated)
            })
            .collect()
    }
}

#[test]
fn a_a_b_a() {
    assert_eq!(
        Chat::new().run("AABA"),
        [
            ('A', 1, None),
            ('A', 1, None),
            ('B', 1, None),
            ('A', 2, Some((1, 2)))
        ]
    );
}

#[test]
fn every_turn_of_the_conversation_turns_the_ratchet() {
    assert_eq!(
        Chat::new().run("ABABBAAB"),
        [
            ('A', 1, None),
            ('B', 1, None),
            ('A', 2, Some((1, 2))),
            ('B', 2, Some((1, 2))),
            ('B', 2, None),
            ('A', 3, Some((2, 3))),
            ('A', 3, None),
            ('B', 3, Some((2, 3))),
        ]
    );
}

#[test]
fn the_ratchet_turns_only_when_the_reply_is_decrypted() {
    let mut chat = Chat::new();
    let first = chat.alice_sends();
    chat.bob_receives(&first.ciphertext);
    let reply = chat.bob_sends();
    // Alice sends again before reading Bob's reply: same key.
    let before = chat.alice_sends();
    assert_eq!((before.key_version, before.key_rotated), (1, None));
    chat.a2b.decrypt(&reply.ciphertext).unwrap();
    let after = chat.alice_sends();
    assert_eq!((after.key_version, after.key_rotated), (2, Some((1, 2))));
    // A second reply under Bob's same key does not turn Alice's ratchet again.
    let reply2 = chat.bob_sends();
    chat.a2b.decrypt(&reply2.ciphertext).unwrap();
    let again = chat.alice_sends();
    assert_eq!((again.key_version, again.key_rotated), (2, None));
}

#[test]
fn the_count_survives_a_pickle() {
    let key = pigeon_crypto::PickleKey::new([3; 32]);
    let mut chat = Chat::new();
    chat.run("ABAB");
    assert_eq!(chat.a2b.key_version(), 2);
    let restored = Conversation::from_pickle(&chat.a2b.pickle(&key), &key).unwrap();
    chat.a2b = restored;
    assert_eq!(chat.a2b.key_version(), 2);
    assert_eq!(
        chat.run("AAB"),
        [
            ('A', 3, Some((2, 3))),
            ('A', 3, None),
            ('B', 3, Some((2, 3)))
        ]
    );
}

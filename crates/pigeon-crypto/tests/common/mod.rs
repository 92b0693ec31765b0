//! Shared setup for the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use pigeon_crypto::{Ciphertext, Conversation, Device};

/// Alice and Bob with a session between them: `a2b` is Alice's side,
/// `b2a` Bob's. Bob has received one pre-key message; nobody has replied.
pub(crate) struct Pair {
    pub(crate) alice: Device,
    pub(crate) bob: Device,
    pub(crate) a2b: Conversation,
    pub(crate) b2a: Conversation,
}

pub(crate) fn pair() -> Pair {
    let alice = Device::new();
    let mut bob = Device::new();
    let otk = bob.generate_one_time_keys(1).remove(0);
    let mut a2b = alice.outbound(&bob.keys(), &otk).unwrap();
    let first = a2b.encrypt(b"hello").unwrap();
    let (b2a, plaintext) = bob
        .inbound(&alice.identity_key(), &first.ciphertext)
        .unwrap();
    assert_eq!(plaintext, b"hello");
    Pair {
        alice,
        bob,
        a2b,
        b2a,
    }
}

pub(crate) fn send(from: &mut Conversation, text: &str) -> Ciphertext {
    from.encrypt(text.as_bytes()).unwrap().ciphertext
}

pub(crate) fn recv(to: &mut Conversation, ciphertext: &Ciphertext) -> String {
    String::from_utf8(to.decrypt(ciphertext).unwrap()).unwrap()
}

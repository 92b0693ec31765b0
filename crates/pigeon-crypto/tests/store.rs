//! The session store: several sessions per peer device, tried in turn.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pigeon_crypto::{
    Ciphertext, Device, MAX_SESSIONS_PER_DEVICE, MessageType, PeerDevice, SessionStore,
    StoreDecryptError, StoreError,
};

struct Side {
    device: Device,
    me: PeerDevice,
    store: SessionStore,
}

impl Side {
    fn new(user: &str) -> Self {
        Self {
            device: Device::new(),
            me: PeerDevice::new(user, "D1"),
            store: SessionStore::new(),
        }
    }

    /// Claim one of `other`'s one-time keys and start a session with it.
    fn start_session_with(&mut self, other: &mut Side) {
        let otk = other.device.generate_one_time_keys(1).remove(0);
        let conversation = self.device.outbound(&other.device.keys(), &otk).unwrap();
        self.store.insert(other.me.clone(), conversation);
    }

    fn send(&mut self, to: &Side, text: &str) -> Ciphertext {
        self.store.encrypt(&to.me, text).unwrap().ciphertext
    }

    fn recv(&mut self, from: &Side, ciphertext: &Ciphertext) -> Result<String, StoreDecryptError> {
        let plaintext = self.store.decrypt(
            &mut self.device,
            &from.me,
            &from.device.identity_key(),
            ciphertext,
        )?;
        Ok(String::from_utf8(plaintext).unwrap())
    }
}

#[test]
fn first_contact_creates_an_inbound_session() {
    let mut alice = Side::new("@alice");
    let mut bob = Side::new("@bob");
    alice.start_session_with(&mut bob);
    let m = alice.send(&bob, "hi");
    assert!(!bob.store.has_session(&alice.me));
    assert_eq!(bob.recv(&alice, &m).unwrap(), "hi");
    assert!(bob.store.has_session(&alice.me));
    // More pre-key messages of the same session go to that session.
    let m = alice.send(&bob, "still pre-key");
    assert_eq!(m.message_type, MessageType::PreKey);
    assert_eq!(bob.recv(&alice, &m).unwrap(), "still pre-key");
    assert_eq!(bob.store.session_count(&alice.me), 1);
    let reply = bob.send(&alice, "hello");
    assert_eq!(reply.message_type, MessageType::Normal);
    assert_eq!(alice.recv(&bob, &reply).unwrap(), "hello");
    assert_eq!(
        alice.send(&bob, "now normal").message_type,
        MessageType::Normal
    );
}

#[test]
fn both_sides_start_a_session_at_once() {
    let mut alice = Side::new("@alice");
    let mut bob = Side::new("@bob");
    alice.start_session_with(&mut bob);
    bob.start_session_with(&mut alice);
    let from_alice = alice.send(&bob, "from alice");
    let from_bob = bob.send(&alice, "from bob");
    assert_eq!(bob.recv(&alice, &from_alice).unwrap(), "from alice");
    assert_eq!(alice.recv(&bob, &from_bob).unwrap(), "from bob");
    assert_eq!(alice.store.session_count(&bob.me), 2);
    assert_eq!(bob.store.session_count(&alice.me), 2);
    // Each side now prefers the session it last decrypted with; whichever
    // that is, every message decrypts.
    for i in 0..10 {
        let m = alice.send(&bob, &format!("a{i}"));
        assert_eq!(bob.recv(&alice, &m).unwrap(), format!("a{i}"));
        let m = bob.send(&alice, &format!("b{i}"));
        assert_eq!(alice.recv(&bob, &m).unwrap(), format!("b{i}"));
    }
}

#[test]
fn normal_messages_are_tried_against_every_session() {
    let mut alice = Side::new("@alice");
    let mut bob = Side::new("@bob");
    alice.start_session_with(&mut bob);
    let m = alice.send(&bob, "one");
    bob.recv(&alice, &m).unwrap();
    let reply = bob.send(&alice, "r");
    alice.recv(&bob, &reply).unwrap();
    let old_session = alice.send(&bob, "old session, delivered late");
    assert_eq!(old_session.message_type, MessageType::Normal);

    // Alice starts a second session (as after a restore), Bob accepts it.
    alice.start_session_with(&mut bob);
    let m = alice.send(&bob, "new session");
    assert_eq!(bob.recv(&alice, &m).unwrap(), "new session");
    assert_eq!(bob.store.session_count(&alice.me), 2);
    // The late message of the older session still decrypts.
    assert_eq!(
        bob.recv(&alice, &old_session).unwrap(),
        "old session, delivered late"
    );
}

#[test]
fn unknown_and_duplicate_messages_are_typed_errors() {
    let mut alice = Side::new("@alice");
    let mut bob = Side::new("@bob");
    let carol = Side::new("@carol");
    alice.start_session_with(&mut bob);
    let m = alice.send(&bob, "x");
    bob.recv(&alice, &m).unwrap();
    let reply = bob.send(&alice, "r");
    alice.recv(&bob, &reply).unwrap();
    let normal = alice.send(&bob, "normal");

    // The server claims it came from Carol, with whom Bob has no session.
    assert!(matches!(
        bob.recv(&carol, &normal),
        Err(StoreDecryptError::NoMatchingSession { tried: 0 })
    ));
    assert_eq!(bob.recv(&alice, &normal).unwrap(), "normal");
    assert!(matches!(
        bob.recv(&alice, &normal),
        Err(StoreDecryptError::NoMatchingSession { tried: 1 })
    ));
    // A duplicate pre-key message goes to its session and is reported as such.
    assert!(matches!(
        bob.recv(&alice, &m),
        Err(StoreDecryptError::Decrypt(
            pigeon_crypto::DecryptError::MissingMessageKey { .. }
        ))
    ));
    assert_eq!(bob.store.session_count(&alice.me), 1);
    assert!(matches!(
        bob.store.encrypt(&carol.me, "no session"),
        Err(StoreError::NoSession)
    ));
}

#[test]
fn sessions_per_device_are_bounded() {
    let mut alice = Side::new("@alice");
    let mut bob = Side::new("@bob");
    for i in 0..MAX_SESSIONS_PER_DEVICE + 3 {
        alice.start_session_with(&mut bob);
        let m = alice.send(&bob, &format!("s{i}"));
        assert_eq!(bob.recv(&alice, &m).unwrap(), format!("s{i}"));
    }
    assert_eq!(alice.store.session_count(&bob.me), MAX_SESSIONS_PER_DEVICE);
    assert_eq!(bob.store.session_count(&alice.me), MAX_SESSIONS_PER_DEVICE);
}

//! Pickles: restore mid-conversation and go on; wrong keys and garbage fail
//! with typed errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{pair, recv, send};
use pigeon_crypto::{Conversation, Device, PeerDevice, PickleError, PickleKey, SessionStore};

fn key() -> PickleKey {
    PickleKey::new([42; 32])
}

fn wrong_key() -> PickleKey {
    PickleKey::new([43; 32])
}

#[test]
fn device_and_conversations_restore_mid_conversation() {
    let mut p = pair();
    let reply = send(&mut p.b2a, "before");
    recv(&mut p.a2b, &reply);
    let in_flight = send(&mut p.a2b, "in flight across the restart");

    // Bob restarts: his device and his side of the conversation come back.
    let device = p.bob.pickle(&key());
    let conversation = p.b2a.pickle(&key());
    let bob = Device::from_pickle(&device, &key()).unwrap();
    assert_eq!(bob.keys(), p.bob.keys());
    let mut b2a = Conversation::from_pickle(&conversation, &key()).unwrap();
    assert_eq!(b2a.session_id(), p.a2b.session_id());

    assert_eq!(recv(&mut b2a, &in_flight), "in flight across the restart");
    for i in 0..5 {
        let m = send(&mut b2a, &format!("b{i}"));
        assert_eq!(recv(&mut p.a2b, &m), format!("b{i}"));
        let m = send(&mut p.a2b, &format!("a{i}"));
        assert_eq!(recv(&mut b2a, &m), format!("a{i}"));
    }
}

#[test]
fn unused_one_time_keys_survive_a_device_pickle() {
    let alice = Device::new();
    let mut bob = Device::new();
    let otks = bob.generate_one_time_keys(2);
    let mut bob = Device::from_pickle(&bob.pickle(&key()), &key()).unwrap();
    let mut to_bob = alice.outbound(&bob.keys(), &otks[1]).unwrap();
    let first = send(&mut to_bob, "after restore");
    let (_, plaintext) = bob.inbound(&alice.identity_key(), &first).unwrap();
    assert_eq!(plaintext, b"after restore");
}

#[test]
fn store_restores_as_a_whole_mid_conversation() {
    let mut p = pair();
    let alice_peer = PeerDevice::new("@alice", "A1");
    let mut store = SessionStore::new();
    store.insert(alice_peer.clone(), p.b2a);
    let reply = store.encrypt(&alice_peer, "before").unwrap();
    recv(&mut p.a2b, &reply.ciphertext);

    let pickled = store.pickle(&key());
    assert!(!pickled.contains("before"));
    let mut store = SessionStore::from_pickle(&pickled, &key()).unwrap();
    let mut bob = Device::from_pickle(&p.bob.pickle(&key()), &key()).unwrap();
    assert_eq!(store.session_count(&alice_peer), 1);

    let m = send(&mut p.a2b, "after");
    let plaintext = store
        .decrypt(&mut bob, &alice_peer, &p.alice.identity_key(), &m)
        .unwrap();
    assert_eq!(plaintext, b"after");
    let m = store.encrypt(&alice_peer, "and back").unwrap();
    assert_eq!(recv(&mut p.a2b, &m.ciphertext), "and back");
}

#[test]
fn a_wrong_key_is_a_typed_error() {
    let p = pair();
    assert_eq!(
        Device::from_pickle(&p.bob.pickle(&key()), &wrong_key()).err(),
        Some(PickleError::WrongKeyOrTampered)
    );
    assert_eq!(
        Conversation::from_pickle(&p.b2a.pickle(&key()), &wrong_key()).err(),
        Some(PickleError::WrongKeyOrTampered)
    );
    let mut store = SessionStore::new();
    store.insert(PeerDevice::new("@alice", "A1"), p.b2a);
    assert_eq!(
        SessionStore::from_pickle(&store.pickle(&key()), &wrong_key()).err(),
        Some(PickleError::WrongKeyOrTampered)
    );
}

#[test]
fn garbage_is_a_typed_error() {
    for garbage in ["", "{}", "not a pickle", "{\"v\":2,\"peers\":[]}", "AAAA"] {
        // Valid base64 that is too short to be a pickle fails authentication.
        assert!(Device::from_pickle(garbage, &key()).is_err());
        assert!(matches!(
            Conversation::from_pickle(garbage, &key()),
            Err(PickleError::Malformed(_))
        ));
        assert!(matches!(
            SessionStore::from_pickle(garbage, &key()),
            Err(PickleError::Malformed(_))
        ));
    }
}

#[test]
fn a_device_pickle_that_is_not_base64_is_malformed() {
    assert!(matches!(
        Device::from_pickle("not a pickle!", &key()),
        Err(PickleError::Malformed(_))
    ));
}

#[test]
fn a_tampered_device_pickle_is_rejected() {
    let device = Device::new().pickle(&key());
    let mut bytes = vodozemac::base64_decode(&device).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    let tampered = vodozemac::base64_encode(bytes);
    assert_eq!(
        Device::from_pickle(&tampered, &key()).err(),
        Some(PickleError::WrongKeyOrTampered)
    );
}

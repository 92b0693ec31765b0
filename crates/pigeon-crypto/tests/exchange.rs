//! Sessions end to end: interleaving, reordering, tampering, key claims.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{pair, recv, send};
use pigeon_crypto::{
    Ciphertext, DecryptError, Device, KeyError, MessageType, SessionError, SignedOneTimeKey,
};

#[test]
fn many_messages_both_ways_with_interleaving() {
    let mut p = pair();
    let mut expected_from_alice = Vec::new();
    let mut expected_from_bob = Vec::new();
    for round in 0..20 {
        // Both sides send several messages before reading the other's.
        let from_alice: Vec<_> = (0..round % 4 + 1)
            .map(|i| {
                let text = format!("a{round}.{i}");
                expected_from_alice.push(text.clone());
                send(&mut p.a2b, &text)
            })
            .collect();
        let from_bob: Vec<_> = (0..round % 3 + 1)
            .map(|i| {
                let text = format!("b{round}.{i}");
                expected_from_bob.push(text.clone());
                send(&mut p.b2a, &text)
            })
            .collect();
        let got_by_bob: Vec<_> = from_alice.iter().map(|c| recv(&mut p.b2a, c)).collect();
        let got_by_alice: Vec<_> = from_bob.iter().map(|c| recv(&mut p.a2b, c)).collect();
        let alice_sent = expected_from_alice.len();
        let bob_sent = expected_from_bob.len();
        assert_eq!(
            got_by_bob,
            expected_from_alice[alice_sent - from_alice.len()..]
        );
        assert_eq!(got_by_alice, expected_from_bob[bob_sent - from_bob.len()..]);
    }
    assert!(p.a2b.has_received_message());
    assert_eq!(send(&mut p.a2b, "x").message_type, MessageType::Normal);
}

#[test]
fn out_of_order_within_a_chain() {
    let mut p = pair();
    // Establish both directions first.
    let reply = send(&mut p.b2a, "reply");
    recv(&mut p.a2b, &reply);

    let messages: Vec<_> = (0..10)
        .map(|i| (i, send(&mut p.a2b, &format!("m{i}"))))
        .collect();
    // Deliver in the order 9, 7, 5, …, 1, then 8, 6, …, 0.
    let mut order: Vec<_> = messages.iter().filter(|(i, _)| i % 2 == 1).rev().collect();
    order.extend(messages.iter().filter(|(i, _)| i % 2 == 0).rev());
    for (i, ciphertext) in order {
        assert_eq!(recv(&mut p.b2a, ciphertext), format!("m{i}"));
    }
}

#[test]
fn old_chain_arrives_after_the_ratchet_turned() {
    let mut p = pair();
    let late = send(&mut p.a2b, "sent before the reply, delivered last");
    let reply = send(&mut p.b2a, "reply");
    recv(&mut p.a2b, &reply);
    let newer = send(&mut p.a2b, "newer chain");
    assert_eq!(recv(&mut p.b2a, &newer), "newer chain");
    assert_eq!(
        recv(&mut p.b2a, &late),
        "sent before the reply, delivered last"
    );
}

#[test]
fn pre_key_messages_out_of_order() {
    let alice = Device::new();
    let mut bob = Device::new();
    let otk = bob.generate_one_time_keys(1).remove(0);
    let mut a2b = alice.outbound(&bob.keys(), &otk).unwrap();
    let messages: Vec<_> = (0..3).map(|i| send(&mut a2b, &format!("p{i}"))).collect();
    assert!(
        messages
            .iter()
            .all(|m| m.message_type == MessageType::PreKey)
    );
    // The last one arrives first and creates the session.
    let (mut b2a, first) = bob.inbound(&alice.identity_key(), &messages[2]).unwrap();
    assert_eq!(first, b"p2");
    assert_eq!(recv(&mut b2a, &messages[0]), "p0");
    assert_eq!(recv(&mut b2a, &messages[1]), "p1");
    assert_eq!(b2a.session_id(), a2b.session_id());
}

#[test]
fn duplicate_delivery_is_a_typed_error() {
    let mut p = pair();
    let message = send(&mut p.a2b, "once");
    assert_eq!(recv(&mut p.b2a, &message), "once");
    assert!(matches!(
        p.b2a.decrypt(&message),
        Err(DecryptError::MissingMessageKey { .. })
    ));
}

fn flip(ciphertext: &Ciphertext, byte: usize) -> Ciphertext {
    let mut bytes = vodozemac::base64_decode(&ciphertext.body).unwrap();
    bytes[byte] ^= 0x01;
    Ciphertext {
        message_type: ciphertext.message_type,
        body: vodozemac::base64_encode(bytes),
    }
}

#[test]
fn tampered_ciphertext_fails_with_a_typed_error_and_the_session_survives() {
    let mut p = pair();
    let reply = send(&mut p.b2a, "reply");
    recv(&mut p.a2b, &reply);
    let message = send(&mut p.a2b, "do not touch");
    let len = vodozemac::base64_decode(&message.body).unwrap().len();
    for byte in 0..len {
        let tampered = flip(&message, byte);
        let result = p.b2a.decrypt(&tampered);
        assert!(
            matches!(
                result,
                Err(DecryptError::Authentication
                    | DecryptError::Malformed(_)
                    | DecryptError::TooBigMessageGap { .. }
                    | DecryptError::MissingMessageKey { .. })
            ),
            "byte {byte}: {result:?}"
        );
    }
    let truncated = Ciphertext {
        body: message.body[..message.body.len() / 2].into(),
        ..message.clone()
    };
    assert!(p.b2a.decrypt(&truncated).is_err());
    // The untouched message still decrypts.
    assert_eq!(recv(&mut p.b2a, &message), "do not touch");
}

#[test]
fn tampered_mac_is_an_authentication_error() {
    let mut p = pair();
    let reply = send(&mut p.b2a, "reply");
    recv(&mut p.a2b, &reply);
    let message = send(&mut p.a2b, "mac");
    let len = vodozemac::base64_decode(&message.body).unwrap().len();
    // The last 8 bytes are the truncated MAC.
    let tampered = flip(&message, len - 1);
    assert_eq!(p.b2a.decrypt(&tampered), Err(DecryptError::Authentication));
}

#[test]
fn a_one_time_key_makes_one_session() {
    let alice = Device::new();
    let carol = Device::new();
    let mut bob = Device::new();
    let otk = bob.generate_one_time_keys(1).remove(0);
    // A misbehaving server hands the same one-time key to two claimers.
    let mut from_alice = alice.outbound(&bob.keys(), &otk).unwrap();
    let mut from_carol = carol.outbound(&bob.keys(), &otk).unwrap();
    let first = send(&mut from_alice, "first");
    let second = send(&mut from_carol, "second");
    bob.inbound(&alice.identity_key(), &first).unwrap();
    assert!(matches!(
        bob.inbound(&carol.identity_key(), &second),
        Err(SessionError::UnknownOneTimeKey)
    ));
    // Replaying the first pre-key message does not make a second session.
    assert!(matches!(
        bob.inbound(&alice.identity_key(), &first),
        Err(SessionError::UnknownOneTimeKey)
    ));
}

#[test]
fn the_fallback_key_serves_many_claimers() {
    let mut bob = Device::new();
    let fallback = bob.generate_fallback_key().unwrap();
    assert!(fallback.fallback);
    for name in ["alice", "carol", "dave"] {
        let sender = Device::new();
        let mut to_bob = sender.outbound(&bob.keys(), &fallback).unwrap();
        let first = to_bob.encrypt(name).unwrap();
        assert_eq!(
            first.key_rotated,
            Some((0, 1)),
            "a fallback session reports a rotation"
        );
        let second = to_bob.encrypt(name).unwrap();
        assert_eq!((second.key_version, second.key_rotated), (1, None));
        let (mut b2s, plaintext) = bob
            .inbound(&sender.identity_key(), &first.ciphertext)
            .unwrap();
        assert_eq!(plaintext, name.as_bytes());
        assert_eq!(b2s.decrypt(&second.ciphertext).unwrap(), name.as_bytes());
    }
}

#[test]
fn the_previous_fallback_key_still_works_after_rotation() {
    let alice = Device::new();
    let mut bob = Device::new();
    let old = bob.generate_fallback_key().unwrap();
    let mut to_bob = alice.outbound(&bob.keys(), &old).unwrap();
    let message = send(&mut to_bob, "in flight");
    let new = bob.generate_fallback_key().unwrap();
    assert_ne!(new.key.public_key, old.key.public_key);
    let (_, plaintext) = bob.inbound(&alice.identity_key(), &message).unwrap();
    assert_eq!(plaintext, b"in flight");
}

#[test]
fn outbound_rejects_swapped_or_foreign_keys() {
    let alice = Device::new();
    let mut bob = Device::new();
    let mut mallory = Device::new();
    let otk = bob.generate_one_time_keys(1).remove(0);

    let mut bundle = bob.keys();
    bundle.curve25519 = mallory.keys().curve25519;
    assert!(matches!(
        alice.outbound(&bundle, &otk),
        Err(SessionError::Key(KeyError::BadSignature))
    ));

    // A one-time key of Mallory's presented as Bob's.
    let foreign: SignedOneTimeKey = mallory.generate_one_time_keys(1).remove(0);
    assert!(matches!(
        alice.outbound(&bob.keys(), &foreign),
        Err(SessionError::Key(KeyError::BadSignature))
    ));
}

#[test]
fn inbound_checks_the_sender_and_the_message_type() {
    let mut p = pair();
    let stranger = Device::new();
    let mut bob = Device::new();
    let otk = bob.generate_one_time_keys(1).remove(0);
    let mut to_bob = p.alice.outbound(&bob.keys(), &otk).unwrap();
    let first = send(&mut to_bob, "hi");
    assert!(matches!(
        bob.inbound(&stranger.identity_key(), &first),
        Err(SessionError::IdentityMismatch)
    ));
    assert!(matches!(
        bob.inbound("###", &first),
        Err(SessionError::Key(_))
    ));

    let reply = send(&mut p.b2a, "reply");
    recv(&mut p.a2b, &reply);
    let normal = send(&mut p.a2b, "normal");
    assert!(matches!(
        p.bob.inbound(&p.alice.identity_key(), &normal),
        Err(SessionError::NotPreKey)
    ));
    // A normal message labelled pre-key does not decode.
    let mislabelled = Ciphertext {
        message_type: MessageType::PreKey,
        ..normal
    };
    assert!(matches!(
        p.bob.inbound(&p.alice.identity_key(), &mislabelled),
        Err(SessionError::Malformed(_))
    ));
}

#[test]
fn debug_output_shows_no_secrets() {
    let p = pair();
    let device = format!("{:?}", p.alice);
    assert!(device.starts_with("Device { curve25519: "), "{device}");
    let conversation = format!("{:?}", p.a2b);
    assert!(conversation.contains(&p.a2b.session_id()), "{conversation}");
    assert!(conversation.contains("key_version: 1"), "{conversation}");
}

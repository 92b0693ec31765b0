//! Property tests: any bytes round-trip, and no input makes decryption panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::pair;
use pigeon_crypto::{Ciphertext, MessageType};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn decrypt_inverts_encrypt(
        messages in proptest::collection::vec(
            (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..2048)),
            1..12,
        )
    ) {
        let mut p = pair();
        for (from_alice, plaintext) in messages {
            let (sender, receiver) =
                if from_alice { (&mut p.a2b, &mut p.b2a) } else { (&mut p.b2a, &mut p.a2b) };
            let sent = sender.encrypt(&plaintext).unwrap();
            prop_assert_eq!(receiver.decrypt(&sent.ciphertext).unwrap(), plaintext);
        }
    }

    #[test]
    fn arbitrary_ciphertexts_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..256),
        pre_key in any::<bool>(),
    ) {
        let mut p = pair();
        let message_type = if pre_key { MessageType::PreKey } else { MessageType::Normal };
        let ciphertext = Ciphertext { message_type, body: vodozemac::base64_encode(&body) };
        prop_assert!(p.b2a.decrypt(&ciphertext).is_err());
        let _ = p.bob.inbound(&p.alice.identity_key(), &ciphertext);
    }

    #[test]
    fn arbitrary_strings_never_panic(body in "\\PC{0,200}") {
        let mut p = pair();
        let ciphertext = Ciphertext { message_type: MessageType::Normal, body };
        prop_assert!(p.b2a.decrypt(&ciphertext).is_err());
    }
}

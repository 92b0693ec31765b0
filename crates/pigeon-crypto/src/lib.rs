//! Client-side end-to-end encryption for Pigeon direct messages.
//!
//! The server only ever sees ciphertext; this crate is the part of a client
//! that makes it. It wraps [vodozemac]'s Olm (the double ratchet used by
//! Matrix) and adds what Pigeon needs around it: signed key bundles for the
//! server's key directory, a JSON wire form for ciphertexts, a session store
//! per peer device, encrypted pickles, and the facts for `messaging.encrypt`
//! spans. Synchronous, no I/O, no async runtime; all cryptography is
//! vodozemac's.
//!
//! # Contents
//!
//! * [`Device`] (device.rs): a device's Olm account; publishes signed
//!   [`DeviceKeys`], one-time and fallback keys, and creates sessions.
//! * [`DeviceKeys`], [`OneTimeKey`], [`SignedOneTimeKey`] (keys.rs): public
//!   keys as stored by the server, and their signature checks.
//! * [`Conversation`] (conversation.rs): one Olm session with one peer
//!   device; encrypts into [`Encrypted`] (ciphertext + `key_version` +
//!   `key_rotated`, rule documented there), decrypts [`Ciphertext`].
//! * [`Ciphertext`], [`MessageType`], [`ALGORITHM`] (ciphertext.rs): the wire
//!   form, `{"message_type":"pre_key"|"normal","body":"<base64>"}`.
//! * [`SessionStore`], [`PeerDevice`] (store.rs): several sessions per peer
//!   device, tried in turn on decrypt, pickled as a whole.
//! * [`PickleKey`] (pickle.rs): the 32-byte key for encrypted pickles.
//! * Errors (error.rs): one enum per operation.
//!
//! # A first exchange
//!
//! Alice claims one of Bob's one-time keys and sends a pre-key message; Bob
//! creates the inbound session from it and replies with a normal message.
//!
//! ```
//! use pigeon_crypto::{Device, MessageType};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let alice = Device::new();
//! let mut bob = Device::new();
//!
//! // Bob publishes his keys; the server stores them.
//! let bob_keys = bob.keys();
//! let bob_one_time_keys = bob.generate_one_time_keys(5);
//!
//! // Alice fetches Bob's keys, claims one one-time key, starts a session.
//! let mut to_bob = alice.outbound(&bob_keys, &bob_one_time_keys[0])?;
//! let first = to_bob.encrypt(b"hello bob")?;
//! assert_eq!(first.ciphertext.message_type, MessageType::PreKey);
//! assert_eq!((first.key_version, first.key_rotated), (1, None));
//!
//! // Bob accepts the session from the pre-key message.
//! let (mut to_alice, plaintext) = bob.inbound(&alice.keys().curve25519, &first.ciphertext)?;
//! assert_eq!(plaintext, b"hello bob");
//!
//! // Bob's reply is a normal message; once Alice has read it, so are hers.
//! let reply = to_alice.encrypt(b"hi alice")?;
//! assert_eq!(reply.ciphertext.message_type, MessageType::Normal);
//! assert_eq!(to_bob.decrypt(&reply.ciphertext)?, b"hi alice");
//!
//! let next = to_bob.encrypt(b"how are you?")?;
//! assert_eq!(next.ciphertext.message_type, MessageType::Normal);
//! // Alice's ratchet turned after Bob's reply: a new sending key.
//! assert_eq!((next.key_version, next.key_rotated), (2, Some((1, 2))));
//! assert_eq!(to_alice.decrypt(&next.ciphertext)?, b"how are you?");
//! # Ok(())
//! # }
//! ```

mod ciphertext;
mod conversation;
mod device;
mod error;
mod keys;
mod pickle;
mod store;

pub use ciphertext::{ALGORITHM, Ciphertext, Encrypted, MessageType};
pub use conversation::Conversation;
pub use device::Device;
pub use error::{
    DecryptError, EncryptError, KeyError, PickleError, SessionError, StoreDecryptError, StoreError,
};
pub use keys::{DeviceKeys, OneTimeKey, SignedOneTimeKey};
pub use pickle::PickleKey;
pub use store::{MAX_SESSIONS_PER_DEVICE, PeerDevice, SessionStore};

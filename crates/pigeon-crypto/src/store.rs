//! All sessions of one device, keyed by peer device.
//!
//! Why several sessions per peer device: both sides may start a session at
//! the same time, a peer may restore from a backup, or a peer may start a new
//! session after a failure. Like libolm clients, the store keeps a few
//! sessions per peer device, tries each on decrypt, and accepts a pre-key
//! message that no session recognises as a new inbound session.
//!
//! Sessions per peer device are kept most recently used first: encryption
//! uses the first one, a successful decryption moves its session to the
//! front, and beyond [`MAX_SESSIONS_PER_DEVICE`] the least recently used is
//! dropped (its in-flight messages would then fail to decrypt).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vodozemac::olm::OlmMessage;

use crate::{
    ciphertext::{Ciphertext, Encrypted},
    conversation::{Conversation, ConversationPickle},
    device::Device,
    error::{PickleError, StoreDecryptError, StoreError},
    pickle::{self, PICKLE_VERSION, PickleKey, Versioned},
};

/// How many sessions the store keeps per peer device.
pub const MAX_SESSIONS_PER_DEVICE: usize = 8;

/// A peer device: the store's key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PeerDevice {
    /// The peer's user id.
    pub user_id: String,
    /// The peer's device id.
    pub device_id: String,
}

impl PeerDevice {
    /// A peer device from its user and device ids.
    pub fn new(user_id: impl Into<String>, device_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            device_id: device_id.into(),
        }
    }
}

/// The Olm sessions of one device with all its peer devices.
#[derive(Debug, Default)]
pub struct SessionStore {
    peers: BTreeMap<PeerDevice, Vec<Conversation>>,
}

impl SessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a session (typically from [`Device::outbound`]) as the most
    /// recent one for `peer`; it is used for the next encryption.
    pub fn insert(&mut self, peer: PeerDevice, conversation: Conversation) {
        let sessions = self.peers.entry(peer).or_default();
        sessions.insert(0, conversation);
        sessions.truncate(MAX_SESSIONS_PER_DEVICE);
    }

    /// Whether there is a session to encrypt for `peer` with.
    pub fn has_session(&self, peer: &PeerDevice) -> bool {
        self.peers.get(peer).is_some_and(|s| !s.is_empty())
    }

    /// How many sessions are kept for `peer`.
    pub fn session_count(&self, peer: &PeerDevice) -> usize {
        self.peers.get(peer).map_or(0, Vec::len)
    }

    /// The session the next encryption for `peer` would use.
    pub fn current(&self, peer: &PeerDevice) -> Option<&Conversation> {
        self.peers.get(peer).and_then(|s| s.first())
    }

    /// Encrypt for `peer` with its most recently used session.
    pub fn encrypt(
        &mut self,
        peer: &PeerDevice,
        plaintext: impl AsRef<[u8]>,
    ) -> Result<Encrypted, StoreError> {
        let conversation = self
            .peers
            .get_mut(peer)
            .and_then(|s| s.first_mut())
            .ok_or(StoreError::NoSession)?;
        Ok(conversation.encrypt(plaintext)?)
    }

    /// Decrypt a message from `peer`, whose Curve25519 identity key is
    /// `sender_identity_key` (base64).
    ///
    /// A pre-key message goes to the session it names if the store has it,
    /// otherwise `device` creates an inbound session from it (consuming the
    /// one-time key). A normal message is tried against each session of the
    /// peer, most recently used first.
    pub fn decrypt(
        &mut self,
        device: &mut Device,
        peer: &PeerDevice,
        sender_identity_key: &str,
        ciphertext: &Ciphertext,
    ) -> Result<Vec<u8>, StoreDecryptError> {
        let message = ciphertext.to_olm()?;
        let sessions = self
            .peers
            .get_mut(peer)
            .map(Vec::as_mut_slice)
            .unwrap_or_default();
        match &message {
            OlmMessage::PreKey(pre_key) => {
                let session_id = pre_key.session_id();
                if let Some(index) = sessions.iter().position(|c| c.session_id() == session_id) {
                    let plaintext = sessions[index].decrypt_olm(&message)?;
                    promote(sessions, index);
                    return Ok(plaintext);
                }
                let (conversation, plaintext) =
                    device.inbound_message(sender_identity_key, pre_key)?;
                self.insert(peer.clone(), conversation);
                Ok(plaintext)
            }
            OlmMessage::Normal(_) => {
                for index in 0..sessions.len() {
                    if let Ok(plaintext) = sessions[index].decrypt_olm(&message) {
                        promote(sessions, index);
                        return Ok(plaintext);
                    }
                }
                Err(StoreDecryptError::NoMatchingSession {
                    tried: sessions.len(),
                })
            }
        }
    }

    /// Encrypt the whole store for storage. Each session is a vodozemac
    /// encrypted pickle; peer ids and counters are readable (see the
    /// [`pickle`](crate::PickleKey) notes).
    pub fn pickle(&self, key: &PickleKey) -> String {
        let peers = self
            .peers
            .iter()
            .filter(|(_, sessions)| !sessions.is_empty())
            .map(|(peer, sessions)| PeerPickle {
                peer: peer.clone(),
                sessions: sessions.iter().map(|c| c.to_pickle(key)).collect(),
            })
            .collect();
        pickle::to_json(&StorePickle {
            v: PICKLE_VERSION,
            peers,
        })
    }

    /// Restore a store from [`SessionStore::pickle`].
    pub fn from_pickle(pickle: &str, key: &PickleKey) -> Result<Self, PickleError> {
        let stored: StorePickle = pickle::from_json(pickle)?;
        let mut peers = BTreeMap::new();
        for PeerPickle { peer, sessions } in stored.peers {
            let sessions = sessions
                .into_iter()
                .map(|c| Conversation::from_pickle_struct(c, key))
                .collect::<Result<Vec<_>, _>>()?;
            peers.insert(peer, sessions);
        }
        Ok(Self { peers })
    }
}

/// Move the session at `index` to the front, keeping the others' order.
fn promote(sessions: &mut [Conversation], index: usize) {
    sessions[..=index].rotate_right(1);
}

#[derive(Serialize, Deserialize)]
struct StorePickle {
    v: u32,
    peers: Vec<PeerPickle>,
}

#[derive(Serialize, Deserialize)]
struct PeerPickle {
    peer: PeerDevice,
    sessions: Vec<ConversationPickle>,
}

impl Versioned for StorePickle {
    fn version(&self) -> u32 {
        self.v
    }
}

//! Keeping a device across restarts: its credentials, its Olm account, its sessions and the
//! identity keys it has verified, in one file.
//!
//! The Olm state is pickled encrypted (vodozemac's pickles) under a 32-byte key kept in a
//! second file beside it (`<profile>.key`, mode 0600, made on first save). Both files are
//! written to a temporary name and renamed into place, so a crash never leaves half a profile.

use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pigeon_crypto::{Device, DeviceKeys, PeerDevice, PickleKey, SessionStore};
use serde::{Deserialize, Serialize};

use crate::api::Api;
use crate::crypto::{Crypto, CryptoCell};
use crate::{Client, ClientError, Credentials};

#[derive(Serialize, Deserialize)]
struct Profile {
    server: String,
    user_id: String,
    device_id: String,
    token: String,
    device: String,
    sessions: String,
    identities: Vec<(PeerDevice, DeviceKeys)>,
}

fn key_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

fn io(what: &str, path: &Path, err: std::io::Error) -> ClientError {
    ClientError::Transport(format!("{what} {}: {err}", path.display()))
}

/// Reads the pickle key beside `path`, or makes one.
fn pickle_key(path: &Path, create: bool) -> Result<PickleKey, ClientError> {
    let key_path = key_path(path);
    match std::fs::read(&key_path) {
        Ok(bytes) => {
            let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
                ClientError::Crypto(format!("{} is not a 32-byte key", key_path.display()))
            })?;
            Ok(PickleKey::new(bytes))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && create => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| ClientError::Crypto(e.to_string()))?;
            write_atomically(&key_path, &bytes)?;
            Ok(PickleKey::new(bytes))
        }
        Err(err) => Err(io("reading", &key_path, err)),
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ClientError> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io("writing", &tmp, e))?;
    file.write_all(bytes).map_err(|e| io("writing", &tmp, e))?;
    file.sync_all().map_err(|e| io("syncing", &tmp, e))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| io("protecting", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("renaming into", path, e))
}

impl Client {
    /// Saves this device to `path` (and its key to `path.key`).
    pub fn save(&self, path: &Path) -> Result<(), ClientError> {
        let key = pickle_key(path, true)?;
        let profile = {
            let crypto = self.crypto.lock();
            Profile {
                server: self.credentials.server.clone(),
                user_id: self.credentials.user_id.clone(),
                device_id: self.credentials.device_id.clone(),
                token: self.credentials.token.clone(),
                device: crypto.device.pickle(&key),
                sessions: crypto.sessions.pickle(&key),
                identities: crypto
                    .identities
                    .iter()
                    .map(|(p, k)| (p.clone(), k.clone()))
                    .collect(),
            }
        };
        let json =
            serde_json::to_vec(&profile).map_err(|e| ClientError::Protocol(e.to_string()))?;
        write_atomically(path, &json)
    }

    /// Loads a device saved with [`Client::save`].
    pub fn load(path: &Path) -> Result<Self, ClientError> {
        let key = pickle_key(path, false)?;
        let json = std::fs::read(path).map_err(|e| io("reading", path, e))?;
        let profile: Profile = serde_json::from_slice(&json).map_err(|e| {
            ClientError::Protocol(format!("{} is not a profile: {e}", path.display()))
        })?;
        let crypto = Crypto {
            device: Device::from_pickle(&profile.device, &key)
                .map_err(|e| ClientError::Crypto(e.to_string()))?,
            sessions: SessionStore::from_pickle(&profile.sessions, &key)
                .map_err(|e| ClientError::Crypto(e.to_string()))?,
            identities: profile.identities.into_iter().collect::<HashMap<_, _>>(),
        };
        Ok(Self {
            api: Api::new(&profile.server, Some(profile.token.clone())),
            credentials: Credentials {
                server: profile.server,
                user_id: profile.user_id,
                device_id: profile.device_id,
                token: profile.token,
            },
            crypto: Arc::new(CryptoCell::with_state(crypto)),
            targets: Arc::new(Mutex::default()),
            live: Arc::default(),
        })
    }
}

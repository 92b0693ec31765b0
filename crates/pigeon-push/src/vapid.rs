//! The server's VAPID identity (RFC 8292) and the `Authorization` header made from it.
//!
//! Browsers bind a subscription to the `applicationServerKey` they subscribed with, and push
//! services refuse pushes not signed by that key. Losing or changing the key therefore orphans
//! every Web Push subscription, which is why it is made once at first start and kept in a file
//! in the data dir.
//!
//! File format: one line holding the base64url (unpadded) encoding of the 32-byte P-256
//! private scalar, the same form `web-push generate-vapid-keys` prints and most Web Push
//! libraries import. The file is created with mode 0600 (write to a temporary file, then a
//! hard link that fails if another process won the race, so a half-written key is never
//! seen), and loading refuses a file that group or others may access, as ssh does.
//!
//! The JWT is `{"typ":"JWT","alg":"ES256"}.{"aud":<origin of the endpoint>,"exp":…,"sub":…}`,
//! signed with ECDSA P-256/SHA-256 by the `p256` crate. It is assembled here rather than by
//! `web-push-native`'s `vapid` feature because that one drops a non-default port from `aud`
//! and would pull in `jwt-simple` with RSA and several more curves.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use zeroize::Zeroizing;

use crate::error::VapidKeyError;

/// The server's VAPID key pair. `Debug` shows the public key only.
#[derive(Clone)]
pub struct VapidKeys {
    signing: SigningKey,
    public_base64url: String,
}

impl fmt::Debug for VapidKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VapidKeys")
            .field("public", &self.public_base64url)
            .finish_non_exhaustive()
    }
}

impl VapidKeys {
    /// A fresh key pair that lives in memory only.
    pub fn generate() -> Result<Self, VapidKeyError> {
        // Rejection sampling: a random 32-byte string is a valid scalar unless it is 0 or
        // ≥ the group order, which happens with probability about 2^-32.
        for _ in 0..8 {
            let mut bytes = Zeroizing::new([0u8; 32]);
            getrandom::fill(bytes.as_mut_slice())
                .map_err(|e| VapidKeyError::Random(e.to_string()))?;
            if let Ok(signing) = SigningKey::from_slice(bytes.as_slice()) {
                return Ok(Self::from_signing(signing));
            }
        }
        Err(VapidKeyError::Random(
            "no valid scalar in 8 draws".to_owned(),
        ))
    }

    /// Loads the key pair from `path`, or makes one and stores it there (mode 0600) when the
    /// file does not exist. Missing parent directories are created. This does blocking file
    /// I/O: call it at startup or from `spawn_blocking`.
    pub fn load_or_create(path: impl AsRef<Path>) -> Result<Self, VapidKeyError> {
        let path = path.as_ref();
        match load(path) {
            Err(VapidKeyError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                create(path)
            }
            other => other,
        }
    }

    /// The `applicationServerKey` browsers subscribe with: base64url (unpadded) of the
    /// 65-byte uncompressed public point. Also the `k=` of the `Authorization` header.
    pub fn public_key_base64url(&self) -> &str {
        &self.public_base64url
    }

    fn from_signing(signing: SigningKey) -> Self {
        let point = signing.verifying_key().to_encoded_point(false);
        let public_base64url = URL_SAFE_NO_PAD.encode(point.as_bytes());
        Self {
            signing,
            public_base64url,
        }
    }

    /// `vapid t=<jwt>, k=<public key>` for a push service at `audience` (an origin).
    pub(crate) fn authorization(&self, audience: &str, subject: &str, expires_at: u64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({ "aud": audience, "exp": expires_at, "sub": subject });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let signature: Signature = self.signing.sign(signing_input.as_bytes());
        format!(
            "vapid t={signing_input}.{}, k={}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes()),
            self.public_base64url
        )
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> VapidKeyError + '_ {
    move |source| VapidKeyError::Io {
        path: path.to_owned(),
        source,
    }
}

fn load(path: &Path) -> Result<VapidKeys, VapidKeyError> {
    let text = Zeroizing::new(fs::read_to_string(path).map_err(io_error(path))?);
    check_permissions(path)?;
    let malformed = || VapidKeyError::Malformed {
        path: path.to_owned(),
    };
    let bytes = Zeroizing::new(
        URL_SAFE_NO_PAD
            .decode(text.trim().trim_end_matches('='))
            .map_err(|_| malformed())?,
    );
    if bytes.len() != 32 {
        return Err(malformed());
    }
    let signing = SigningKey::from_slice(&bytes).map_err(|_| malformed())?;
    Ok(VapidKeys::from_signing(signing))
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), VapidKeyError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = fs::metadata(path)
        .map_err(io_error(path))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(VapidKeyError::InsecurePermissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<(), VapidKeyError> {
    Ok(())
}

fn create(path: &Path) -> Result<VapidKeys, VapidKeyError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    let keys = VapidKeys::generate()?;
    let line = Zeroizing::new(format!(
        "{}\n",
        URL_SAFE_NO_PAD.encode(keys.signing.to_bytes())
    ));
    let tmp = temp_path(path);
    let written = write_private(&tmp, line.as_bytes()).and_then(|()| fs::hard_link(&tmp, path));
    // The temporary name is ours alone; whatever happened, it goes.
    let _ = fs::remove_file(&tmp);
    match written {
        Ok(()) => {
            tracing::info!(path = %path.display(), public_key = %keys.public_base64url, "created VAPID key file");
            Ok(keys)
        }
        // Another process created the file between our read and our link: use its key.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => load(path),
        Err(source) => Err(VapidKeyError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "vapid".to_owned());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier as _;

    #[test]
    fn jwt_verifies_with_the_public_key() {
        let keys = VapidKeys::generate().unwrap();
        let header = keys.authorization("https://push.example.com", "mailto:a@b", 1_900_000_000);
        let (token, k) = header
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split_once(", k="))
            .unwrap();
        assert_eq!(k, keys.public_key_base64url());
        let (signing_input, signature) = token.rsplit_once('.').unwrap();
        let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
        let verifying = VerifyingKey::from_sec1_bytes(&URL_SAFE_NO_PAD.decode(k).unwrap()).unwrap();
        verifying
            .verify(signing_input.as_bytes(), &signature)
            .unwrap();
        let claims = signing_input.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://push.example.com");
        assert_eq!(claims["exp"], 1_900_000_000u64);
        assert_eq!(claims["sub"], "mailto:a@b");
    }

    #[test]
    fn debug_shows_public_key_only() {
        let keys = VapidKeys::generate().unwrap();
        let secret = URL_SAFE_NO_PAD.encode(keys.signing.to_bytes());
        let text = format!("{keys:?}");
        assert!(text.contains(keys.public_key_base64url()) && !text.contains(&secret));
    }
}

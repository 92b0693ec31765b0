//! The VAPID key file: made once, kept, private.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt as _;

use pigeon_push::{VapidKeyError, VapidKeys};

#[test]
fn keys_persist_across_loads_and_the_file_is_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/vapid.key");
    let first = VapidKeys::load_or_create(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
    let second = VapidKeys::load_or_create(&path).unwrap();
    assert_eq!(first.public_key_base64url(), second.public_key_base64url());
    // 65-byte uncompressed point, base64url without padding.
    assert_eq!(first.public_key_base64url().len(), 87);
    assert!(first.public_key_base64url().starts_with('B'));
    // One line of base64url; no temporary files left behind.
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.trim().len(), 43);
    assert_eq!(
        std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
        1
    );
}

#[test]
fn a_key_from_elsewhere_loads() {
    // The private key from web-push-native's documentation, as `web-push generate-vapid-keys`
    // prints it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vapid.key");
    std::fs::write(&path, "RS0WdYWWo1HajXg3NZR1olzCf31i-ZBGDkFyCs7j1jw\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let keys = VapidKeys::load_or_create(&path).unwrap();
    assert_eq!(keys.public_key_base64url().len(), 87);
}

#[test]
fn loose_permissions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vapid.key");
    VapidKeys::load_or_create(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let error = VapidKeys::load_or_create(&path).unwrap_err();
    assert!(
        matches!(
            error,
            VapidKeyError::InsecurePermissions { mode: 0o644, .. }
        ),
        "{error:?}"
    );
}

#[test]
fn malformed_file_is_refused_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vapid.key");
    std::fs::write(&path, "not a key\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let error = VapidKeys::load_or_create(&path).unwrap_err();
    assert!(
        matches!(error, VapidKeyError::Malformed { .. }),
        "{error:?}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a key\n");
}

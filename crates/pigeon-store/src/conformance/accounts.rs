//! Cases about users, devices and tokens.

use super::Harness;
use super::support::{person, unique};
use crate::{Authenticated, DeviceId, DeviceToken, StoreError, UserId};

/// Usernames are unique; devices can be added, listed and removed; unknown users are `NotFound`.
pub async fn users_and_devices(harness: &dyn Harness) {
    let store = harness.open().await;
    let name = unique("alice");
    let account = store
        .create_user(name.clone(), "laptop".into())
        .await
        .unwrap();
    assert_eq!(
        store.user_by_name(name.clone()).await.unwrap(),
        Some(account.user_id.clone())
    );
    assert_eq!(store.user_by_name(unique("nobody")).await.unwrap(), None);
    let err = store
        .create_user(name.clone(), "phone".into())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(matches!(
        store.create_user(String::new(), "x".into()).await,
        Err(StoreError::Invalid(_))
    ));

    let phone = store
        .add_device(account.user_id.clone(), "phone".into())
        .await
        .unwrap();
    let listed = store.devices(account.user_id.clone()).await.unwrap();
    let ids: Vec<&DeviceId> = listed.iter().map(|d| &d.device_id).collect();
    assert_eq!(ids, [&account.device_id, &phone.device_id]);
    assert_eq!(listed[0].name, "laptop");
    assert_eq!(listed[1].name, "phone");

    store
        .remove_device(account.user_id.clone(), phone.device_id.clone())
        .await
        .unwrap();
    let listed = store.devices(account.user_id.clone()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].device_id, account.device_id);
    // Removing again, or someone else's device, is NotFound.
    assert!(matches!(
        store
            .remove_device(account.user_id.clone(), phone.device_id.clone())
            .await,
        Err(StoreError::NotFound(_))
    ));
    let other = person(&*store, "bob", 1).await;
    assert!(matches!(
        store
            .remove_device(account.user_id.clone(), other.devices[0].clone())
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.add_device(UserId::generate(), "x".into()).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.devices(UserId::generate()).await,
        Err(StoreError::NotFound(_))
    ));
}

/// A token authenticates its device (by hash lookup) until the device is removed; other strings
/// do not.
pub async fn tokens_authenticate_by_hash(harness: &dyn Harness) {
    let store = harness.open().await;
    let p = person(&*store, "carol", 2).await;
    for (device, token) in p.devices.iter().zip(&p.tokens) {
        assert_eq!(token.expose().len(), 64);
        let who = store
            .authenticate(DeviceToken::from_string(token.expose()))
            .await
            .unwrap();
        assert_eq!(
            who,
            Some(Authenticated {
                user_id: p.user.clone(),
                device_id: device.clone()
            })
        );
    }
    assert_ne!(p.tokens[0], p.tokens[1]);
    let wrong = DeviceToken::from_string(format!("{}0", &p.tokens[0].expose()[..63]));
    if wrong != p.tokens[0] {
        assert_eq!(store.authenticate(wrong).await.unwrap(), None);
    }
    assert_eq!(
        store
            .authenticate(DeviceToken::from_string(""))
            .await
            .unwrap(),
        None
    );
    store
        .remove_device(p.user.clone(), p.devices[1].clone())
        .await
        .unwrap();
    assert_eq!(store.authenticate(p.tokens[1].clone()).await.unwrap(), None);
    assert!(
        store
            .authenticate(p.tokens[0].clone())
            .await
            .unwrap()
            .is_some()
    );
}

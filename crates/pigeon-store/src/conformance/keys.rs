//! Cases about the key directory.

use std::collections::HashSet;

use super::Harness;
use super::support::person;
use crate::{DeviceId, KeyUpload, SignedKey, StoreError};

fn key(id: &str) -> SignedKey {
    SignedKey {
        key_id: id.into(),
        public_key: format!("pk-{id}"),
        signature: format!("sig-{id}"),
    }
}

fn otks(ids: impl IntoIterator<Item = usize>) -> Vec<SignedKey> {
    ids.into_iter().map(|i| key(&format!("otk{i}"))).collect()
}

/// Uploads are idempotent per key id; the identity bundle is stored and replaced.
pub async fn key_upload_is_idempotent(harness: &dyn Harness) {
    let store = harness.open().await;
    let p = person(&*store, "keys", 1).await;
    let d = p.devices[0].clone();
    assert_eq!(store.identity_keys(d.clone()).await.unwrap(), None);
    assert_eq!(store.one_time_key_count(d.clone()).await.unwrap(), 0);
    let upload = KeyUpload {
        identity: Some(r#"{"curve25519":"c","ed25519":"e","signature":"s"}"#.into()),
        one_time_keys: otks(0..10),
        fallback: Some(key("fb1")),
    };
    assert_eq!(
        store.upload_keys(d.clone(), upload.clone()).await.unwrap(),
        10
    );
    assert_eq!(
        store.upload_keys(d.clone(), upload.clone()).await.unwrap(),
        10
    );
    let more = KeyUpload {
        one_time_keys: otks(5..15),
        ..KeyUpload::default()
    };
    assert_eq!(store.upload_keys(d.clone(), more).await.unwrap(), 15);
    assert_eq!(store.one_time_key_count(d.clone()).await.unwrap(), 15);
    assert_eq!(
        store.identity_keys(d.clone()).await.unwrap().as_deref(),
        upload.identity.as_deref()
    );
    let unknown = DeviceId::generate();
    assert!(matches!(
        store.upload_keys(unknown.clone(), upload).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.one_time_key_count(unknown.clone()).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.claim_key(unknown).await,
        Err(StoreError::NotFound(_))
    ));
}

/// Each one-time key is handed out once ever, oldest first (re-uploading a claimed key id does
/// not revive it); then the fallback key, marked as such, until a new one replaces it.
pub async fn claims_hand_out_each_key_once_then_the_fallback(harness: &dyn Harness) {
    let store = harness.open().await;
    let p = person(&*store, "claims", 1).await;
    let d = p.devices[0].clone();
    assert_eq!(store.claim_key(d.clone()).await.unwrap(), None);
    store
        .upload_keys(
            d.clone(),
            KeyUpload {
                one_time_keys: otks(0..3),
                fallback: Some(key("fb1")),
                ..KeyUpload::default()
            },
        )
        .await
        .unwrap();
    for i in 0..3 {
        let c = store.claim_key(d.clone()).await.unwrap().unwrap();
        assert_eq!(c.key, key(&format!("otk{i}")));
        assert!(!c.fallback);
    }
    assert_eq!(store.one_time_key_count(d.clone()).await.unwrap(), 0);
    // Re-uploading claimed ids changes nothing.
    let again = KeyUpload {
        one_time_keys: otks(0..3),
        ..KeyUpload::default()
    };
    assert_eq!(store.upload_keys(d.clone(), again).await.unwrap(), 0);
    for _ in 0..2 {
        let c = store.claim_key(d.clone()).await.unwrap().unwrap();
        assert_eq!(c.key, key("fb1"));
        assert!(c.fallback);
    }
    // Re-uploading the same fallback is a no-op; a new one replaces it.
    let fb = |k| KeyUpload {
        fallback: Some(k),
        ..KeyUpload::default()
    };
    store.upload_keys(d.clone(), fb(key("fb1"))).await.unwrap();
    store.upload_keys(d.clone(), fb(key("fb2"))).await.unwrap();
    let c = store.claim_key(d.clone()).await.unwrap().unwrap();
    assert_eq!((c.key, c.fallback), (key("fb2"), true));
    // Fresh one-time keys are preferred over the fallback again.
    store
        .upload_keys(
            d.clone(),
            KeyUpload {
                one_time_keys: otks(3..4),
                ..KeyUpload::default()
            },
        )
        .await
        .unwrap();
    let c = store.claim_key(d.clone()).await.unwrap().unwrap();
    assert_eq!((c.key, c.fallback), (key("otk3"), false));
}

/// Many tasks claiming at once never get the same one-time key, and together get all of them.
pub async fn concurrent_claims_never_share_a_key(harness: &dyn Harness) {
    let store = harness.open().await;
    let p = person(&*store, "race", 1).await;
    let d = p.devices[0].clone();
    let n = 60;
    store
        .upload_keys(
            d.clone(),
            KeyUpload {
                one_time_keys: otks(0..n),
                fallback: Some(key("fb")),
                ..KeyUpload::default()
            },
        )
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, d) = (store.clone(), d.clone());
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..10 {
                got.push(store.claim_key(d.clone()).await.unwrap().unwrap());
            }
            got
        }));
    }
    let mut one_time = HashSet::new();
    let mut fallbacks = 0;
    for t in tasks {
        for c in t.await.unwrap() {
            if c.fallback {
                fallbacks += 1;
            } else {
                assert!(
                    one_time.insert(c.key.key_id.clone()),
                    "{} twice",
                    c.key.key_id
                );
            }
        }
    }
    assert_eq!(one_time.len(), n);
    assert_eq!(fallbacks, 80 - n);
}

//! Cases about push subscriptions.

use super::Harness;
use super::support::person;
use crate::{DeviceId, StoreError};

/// One subscription per device: stored, replaced, listed per user, deleted, and gone with a
/// removed device.
pub async fn push_subscriptions_are_stored_per_device(harness: &dyn Harness) {
    let store = harness.open().await;
    let p = person(&*store, "push", 3).await;
    let [a, b, c] = [
        p.devices[0].clone(),
        p.devices[1].clone(),
        p.devices[2].clone(),
    ];
    assert_eq!(store.push_subscription(a.clone()).await.unwrap(), None);
    store
        .set_push_subscription(a.clone(), r#"{"endpoint":"https://push/1"}"#.into())
        .await
        .unwrap();
    store
        .set_push_subscription(a.clone(), r#"{"endpoint":"https://push/2"}"#.into())
        .await
        .unwrap();
    store
        .set_push_subscription(b.clone(), r#"{"webhook":"https://hook"}"#.into())
        .await
        .unwrap();
    store
        .set_push_subscription(c.clone(), r#"{"webhook":"https://c"}"#.into())
        .await
        .unwrap();
    assert_eq!(
        store.push_subscription(a.clone()).await.unwrap().as_deref(),
        Some(r#"{"endpoint":"https://push/2"}"#)
    );
    let mut want = vec![
        (a.clone(), r#"{"endpoint":"https://push/2"}"#.to_string()),
        (b.clone(), r#"{"webhook":"https://hook"}"#.to_string()),
        (c.clone(), r#"{"webhook":"https://c"}"#.to_string()),
    ];
    want.sort();
    assert_eq!(
        store.push_subscriptions(p.user.clone()).await.unwrap(),
        want
    );
    // A 410 about an older subscription leaves the newer one in place.
    let older = r#"{"endpoint":"https://push/1"}"#.to_string();
    assert!(
        !store
            .delete_push_subscription(a.clone(), Some(older))
            .await
            .unwrap()
    );
    assert!(store.push_subscription(a.clone()).await.unwrap().is_some());
    let current = r#"{"endpoint":"https://push/2"}"#.to_string();
    assert!(
        store
            .delete_push_subscription(a.clone(), Some(current.clone()))
            .await
            .unwrap()
    );
    store
        .set_push_subscription(a.clone(), current)
        .await
        .unwrap();
    assert!(
        store
            .delete_push_subscription(b.clone(), None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_push_subscription(b.clone(), None)
            .await
            .unwrap()
    );
    store
        .remove_device(p.user.clone(), c.clone())
        .await
        .unwrap();
    assert_eq!(store.push_subscription(c).await.unwrap(), None);
    let list = store.push_subscriptions(p.user.clone()).await.unwrap();
    assert_eq!(
        list,
        vec![(a, r#"{"endpoint":"https://push/2"}"#.to_string())]
    );
    assert!(matches!(
        store
            .set_push_subscription(DeviceId::generate(), "{}".into())
            .await,
        Err(StoreError::NotFound(_))
    ));
}

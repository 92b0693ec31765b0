//! Fixtures shared by the cases: people with devices, and sends that target the right devices.

use crate::{
    DeviceCopy, DeviceId, DeviceToken, MailboxEntry, MailboxItem, MessageId, SendOutcome,
    SendRequest, Store, UserId,
};

/// A user with some devices, made for one case.
pub(super) struct Person {
    pub(super) user: UserId,
    pub(super) devices: Vec<DeviceId>,
    pub(super) tokens: Vec<DeviceToken>,
}

/// A unique name, so cases can share a database.
pub(super) fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// Registers a user with `devices` devices.
pub(super) async fn person(store: &dyn Store, name: &str, devices: usize) -> Person {
    let account = store
        .create_user(unique(name), "first".into())
        .await
        .unwrap();
    let mut p = Person {
        user: account.user_id,
        devices: vec![account.device_id],
        tokens: vec![account.token],
    };
    for i in 1..devices {
        let d = store
            .add_device(p.user.clone(), format!("device {i}"))
            .await
            .unwrap();
        p.devices.push(d.device_id);
        p.tokens.push(d.token);
    }
    p
}

/// The devices a send from `from.devices[idx]` to `to` must target.
pub(super) fn targets(from: &Person, idx: usize, to: &Person) -> Vec<DeviceId> {
    let sender = &from.devices[idx];
    let mut t: Vec<DeviceId> = to
        .devices
        .iter()
        .filter(|d| *d != sender)
        .cloned()
        .collect();
    if from.user != to.user {
        t.extend(from.devices.iter().filter(|d| *d != sender).cloned());
    }
    t
}

/// A send request with one distinct ciphertext per target device.
pub(super) fn request(
    from: &Person,
    idx: usize,
    to: &Person,
    client_msg_id: &str,
    targets: &[DeviceId],
) -> SendRequest {
    SendRequest {
        sender_device: from.devices[idx].clone(),
        client_msg_id: client_msg_id.into(),
        recipient_user: to.user.clone(),
        copies: targets
            .iter()
            .map(|d| DeviceCopy {
                device_id: d.clone(),
                envelope_type: 1,
                ciphertext: format!("ct:{client_msg_id}:{d}"),
            })
            .collect(),
        trace_context: Some(format!(
            "00-{:0>32}-00f067aa0ba902b7-01",
            client_msg_id.len()
        )),
    }
}

/// Sends from `from.devices[idx]` to every device it must target; panics on failure.
pub(super) async fn send(
    store: &dyn Store,
    from: &Person,
    idx: usize,
    to: &Person,
    client_msg_id: &str,
) -> SendOutcome {
    let t = targets(from, idx, to);
    store
        .send(request(from, idx, to, client_msg_id, &t))
        .await
        .unwrap()
}

/// The seq a send's copy got in `device`'s mailbox; panics when the send had no copy there.
pub(super) fn seq_in(sent: &SendOutcome, device: &DeviceId) -> u64 {
    sent.seqs
        .iter()
        .find(|(d, _)| d == device)
        .map(|(_, seq)| *seq)
        .unwrap()
}

/// Sends `n` messages from `from.devices[0]` to `to`, with client ids `m0`, `m1`, …; returns
/// their ids in order.
pub(super) async fn send_numbered(
    store: &dyn Store,
    from: &Person,
    to: &Person,
    n: usize,
) -> Vec<MessageId> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(send(store, from, 0, to, &format!("m{i}")).await.message_id);
    }
    ids
}

/// Everything unacked in a device's mailbox.
pub(super) async fn all(store: &dyn Store, device: &DeviceId) -> Vec<MailboxEntry> {
    store.fetch(device.clone(), 0, 100_000).await.unwrap()
}

/// The message ids of the `Message` entries.
pub(super) fn message_ids(entries: &[MailboxEntry]) -> Vec<MessageId> {
    entries
        .iter()
        .filter_map(|e| match &e.item {
            MailboxItem::Message { message_id, .. } => Some(message_id.clone()),
            _ => None,
        })
        .collect()
}

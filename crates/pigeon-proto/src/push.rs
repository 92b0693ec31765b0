//! `PUT /v1/push`: where to push when this device is offline or does not ack in time.
//! `GET /v1/push/vapid` gives the server's VAPID public key, the `applicationServerKey` a
//! browser subscribes with. A push carries the message id and sender only, never content.

use serde::{Deserialize, Serialize};

/// `GET /v1/push/vapid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VapidKey {
    /// The server's VAPID public key, base64url (the browser's `applicationServerKey`).
    pub public_key: String,
}

/// A device's push target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PushRegistration {
    /// A Web Push subscription, as a browser's `PushSubscription.toJSON()` gives it.
    WebPush {
        /// The push service URL.
        endpoint: String,
        /// The subscriber's P-256 public key, base64url.
        p256dh: String,
        /// The subscriber's auth secret, base64url.
        auth: String,
    },
    /// An HTTPS endpoint of the app's own that gets a JSON POST.
    Webhook {
        /// Where to POST.
        url: String,
        /// When set, bodies are signed: `Pigeon-Signature: sha256=<hex HMAC>`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
    },
}

//! pigeon-proto: the wire types of Pigeon's direct-messaging API, shared by the server and the
//! client SDK (never the server itself). Serde only: no I/O, no async.
//!
//! * `ids`: validated identifiers — [`UserId`], [`DeviceId`], [`MessageId`], [`ClientMsgId`],
//!   [`Username`]; a malformed one fails at deserialization, so handlers never see it.
//! * `accounts`: registering, adding and listing devices.
//! * `keys`: the Olm key directory — identity keys, one-time and fallback keys, claims.
//! * `messages`: sending one ciphertext per target device.
//! * `mailbox`: what a device receives (messages and receipts) and how it acks and marks read.
//! * `push`: registering a Web Push subscription or a webhook.
//! * `frames`: the WebSocket frames, both directions.
//! * `error`: the JSON error body every 4xx/5xx carries, with a stable machine-readable code.
//! * `limits`: the documented size limits.
//!
//! Every body is JSON. Ciphertexts travel as the unpadded standard base64 of Olm's wire bytes;
//! the server checks the alphabet and size, never the content.

mod accounts;
mod error;
mod frames;
mod ids;
mod keys;
mod limits;
mod mailbox;
mod messages;
mod push;

pub use accounts::{
    AddDeviceRequest, DeviceInfo, DeviceList, RegisterRequest, Registered, UserLookup,
};
pub use error::{ErrorBody, ErrorCode};
pub use frames::{
    ClientFrame, ServerFrame, WS_CLOSE_BAD_FRAME, WS_CLOSE_POLICY, WS_CLOSE_TOO_BIG,
    WS_CLOSE_UNAUTHORIZED, WS_REASON_REPLACED,
};
pub use ids::{ClientMsgId, DeviceId, IdError, MessageId, UserId, Username};
pub use keys::{
    ClaimRequest, ClaimResponse, ClaimedKey, DeviceRef, IdentityKeys, KeyCount, SignedKey,
    UploadKeysRequest,
};
pub use limits::Limits;
pub use mailbox::{
    AckRequest, AckResponse, MailboxEntry, MailboxItem, MailboxPage, ReadRequest, ReadResponse,
};
pub use messages::{
    DeviceCiphertext, MessageType, SendCheckError, SendRequest, SendResponse, StaleDevices,
    is_base64,
};
pub use push::{PushRegistration, VapidKey};

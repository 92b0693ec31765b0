//! WebSocket frames (`GET /v1/ws`, JSON text frames tagged by `type`).
//!
//! After the upgrade the server sends `hello`, then every unacked mailbox entry in order as
//! `deliver`, then new ones as they arrive. The client acks each `deliver` by its `seq` within
//! the ack timeout (5 s by default); what is not acked in time goes to push and is sent again
//! at the next connection. Frames carry W3C `traceparent` so one trace runs from the sender's
//! client to the recipient's ack.
//!
//! A client may also send over the socket (`send`, answered by `sent` or `send_failed` with the
//! same `id`): the same request and the same answers as `POST /v1/messages`, without an HTTP
//! request per message.

use serde::{Deserialize, Serialize};

use crate::{ErrorBody, ErrorCode, MailboxEntry, MessageId, SendRequest, SendResponse, UserId};

/// Close code: the token is missing or wrong.
pub const WS_CLOSE_UNAUTHORIZED: u16 = 4401;
/// Close code: a frame that is not valid JSON or not a known frame type.
pub const WS_CLOSE_BAD_FRAME: u16 = 4400;
/// Close code: a frame over the size limit (RFC 6455 "message too big").
pub const WS_CLOSE_TOO_BIG: u16 = 1009;
/// Close code: too many frames too fast, or replaced (RFC 6455 "policy violation").
pub const WS_CLOSE_POLICY: u16 = 1008;
/// Close reason (with [`WS_CLOSE_POLICY`]) when a newer connection of the same device took
/// over: the old one should not reconnect.
pub const WS_REASON_REPLACED: &str = "replaced by a newer session";

/// Frames the client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// The entry `seq` of this device's mailbox was received (and, for a message, decrypted).
    Ack {
        /// The entry.
        seq: u64,
        /// Trace context of the client's handling.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        traceparent: Option<String>,
    },
    /// `peer`'s messages were read up to `up_to`.
    Read {
        /// The conversation.
        peer: UserId,
        /// The newest message read.
        up_to: MessageId,
        /// Trace context.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        traceparent: Option<String>,
    },
    /// Keep-alive; answered by `pong`.
    Ping {
        /// Echoed back.
        #[serde(default)]
        nonce: u64,
    },
    /// A message to store and deliver, as the body of `POST /v1/messages`; answered by `sent`
    /// or `send_failed` carrying the same `id`. Answers may come in any order.
    Send {
        /// The client's number for this request, echoed in the answer.
        id: u64,
        /// What to send.
        message: SendRequest,
        /// Trace context of the client's `messaging.send`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        traceparent: Option<String>,
    },
}

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame of a session.
    Hello {
        /// Unclaimed one-time keys of this device.
        one_time_key_count: u64,
        /// Largest frame the server takes from the client; a `send` that would be larger goes
        /// over HTTP. 0 from a server that takes no `send` frames.
        #[serde(default)]
        max_frame_bytes: usize,
    },
    /// A mailbox entry; ack it by `entry.seq`.
    Deliver {
        /// The entry.
        entry: MailboxEntry,
        /// Trace context of the delivery.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        traceparent: Option<String>,
    },
    /// This device's one-time keys run low: upload more.
    KeysLow {
        /// Unclaimed one-time keys left.
        one_time_key_count: u64,
    },
    /// Answer to `ping`.
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },
    /// The `send` numbered `id` was stored durably for every target device.
    Sent {
        /// The `send`'s id.
        id: u64,
        /// As `POST /v1/messages` answers.
        result: SendResponse,
    },
    /// The `send` numbered `id` was refused; nothing was stored.
    SendFailed {
        /// The `send`'s id.
        id: u64,
        /// The HTTP status `POST /v1/messages` would have answered.
        status: u16,
        /// The error body it would have carried (`stale_devices` details included).
        error: ErrorBody,
        /// For `rate_limited`: seconds to wait, as `Retry-After` says over HTTP.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_s: Option<u64>,
    },
    /// A frame was refused without closing the session (say, an ack of an unknown seq).
    Error {
        /// Why.
        code: ErrorCode,
        /// For people.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_parse_and_unknown_types_fail() {
        let ack: ClientFrame = serde_json::from_str(r#"{"type":"ack","seq":3}"#).unwrap();
        assert_eq!(
            ack,
            ClientFrame::Ack {
                seq: 3,
                traceparent: None
            }
        );
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"shout","seq":3}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"ack","seq":-1}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"ack","seq":1,"x":2}"#).is_err());
    }

    #[test]
    fn server_frames_round_trip() {
        let frame = ServerFrame::KeysLow {
            one_time_key_count: 2,
        };
        let json = serde_json::to_string(&frame).unwrap();
        assert_eq!(json, r#"{"type":"keys_low","one_time_key_count":2}"#);
        assert_eq!(serde_json::from_str::<ServerFrame>(&json).unwrap(), frame);
    }

    #[test]
    fn a_send_frame_carries_the_http_send_request() {
        let text = r#"{"type":"send","id":7,"message":{"client_msg_id":"c1","recipient":"u1",
            "ciphertexts":[{"device":{"user_id":"u1","device_id":"d1"},"message_type":"normal","body":"QUJD"}]}}"#;
        let ClientFrame::Send { id, message, .. } = serde_json::from_str(text).unwrap() else {
            panic!("not a send frame");
        };
        assert_eq!((id, message.ciphertexts.len()), (7, 1));
        // The request inside is as strict as over HTTP.
        let extra = text.replace(r#""recipient":"u1","#, r#""recipient":"u1","x":1,"#);
        assert!(serde_json::from_str::<ClientFrame>(&extra).is_err());
    }

    #[test]
    fn a_hello_from_an_older_server_allows_no_send_frames() {
        let hello: ServerFrame =
            serde_json::from_str(r#"{"type":"hello","one_time_key_count":3}"#).unwrap();
        assert_eq!(
            hello,
            ServerFrame::Hello {
                one_time_key_count: 3,
                max_frame_bytes: 0
            }
        );
    }
}

//! WebSocket frames (`GET /v1/ws`, JSON text frames tagged by `type`).
//!
//! After the upgrade the server sends `hello`, then every unacked mailbox entry in order as
//! `deliver`, then new ones as they arrive. The client acks each `deliver` by its `seq` within
//! the ack timeout (5 s by default); what is not acked in time goes to push and is sent again
//! at the next connection. Frames carry W3C `traceparent` so one trace runs from the sender's
//! client to the recipient's ack.

use serde::{Deserialize, Serialize};

use crate::{ErrorCode, MailboxEntry, MessageId, UserId};

/// Close code: the token is missing or wrong.
pub const WS_CLOSE_UNAUTHORIZED: u16 = 4401;
/// Close code: a frame that is not valid JSON or not a known frame type.
pub const WS_CLOSE_BAD_FRAME: u16 = 4400;
/// Close code: a frame over the size limit (RFC 6455 "message too big").
pub const WS_CLOSE_TOO_BIG: u16 = 1009;
/// Close code: too many frames too fast (RFC 6455 "policy violation").
pub const WS_CLOSE_POLICY: u16 = 1008;

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
}

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame of a session.
    Hello {
        /// Unclaimed one-time keys of this device.
        one_time_key_count: u64,
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
}

//! Parsing client input never panics, and what the server writes it can read back.
#![allow(clippy::unwrap_used)]

use pigeon_proto::{ClientFrame, MessageId, SendRequest, ServerFrame, UserId};
use proptest::prelude::*;

proptest! {
    #[test]
    fn arbitrary_text_never_panics_the_parsers(text in ".{0,300}") {
        let _ = serde_json::from_str::<ClientFrame>(&text);
        let _ = serde_json::from_str::<SendRequest>(&text);
    }

    #[test]
    fn client_frames_round_trip(seq in any::<u64>(), nonce in any::<u64>(), peer in "[a-z0-9_-]{1,64}") {
        for frame in [
            ClientFrame::Ack { seq, traceparent: None },
            ClientFrame::Ping { nonce },
            ClientFrame::Read {
                peer: UserId::new(peer.clone()).unwrap(),
                up_to: MessageId::new(peer.clone()).unwrap(),
                traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
            },
        ] {
            let json = serde_json::to_string(&frame).unwrap();
            prop_assert_eq!(serde_json::from_str::<ClientFrame>(&json).unwrap(), frame);
        }
    }

    #[test]
    fn server_frames_round_trip(count in any::<u64>(), nonce in any::<u64>()) {
        for frame in [ServerFrame::KeysLow { one_time_key_count: count }, ServerFrame::Pong { nonce }, ServerFrame::Hello { one_time_key_count: count, max_frame_bytes: 16 << 10 }] {
            let json = serde_json::to_string(&frame).unwrap();
            prop_assert_eq!(serde_json::from_str::<ServerFrame>(&json).unwrap(), frame);
        }
    }
}

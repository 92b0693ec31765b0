//! [`Connection`]: the live WebSocket of one device.
//!
//! Frames are handled in order: a message is decrypted, then acked, then handed out as an
//! [`Event`]; receipts are acked and handed out. When the socket drops, the next call to
//! [`Connection::next_event`] reconnects with exponential backoff, and the server resends
//! everything not acked, so nothing is lost; a message decrypted before (acked but the ack was
//! lost) is recognised by its id and not handed out twice.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use pigeon_crypto::{Ciphertext, PeerDevice};
use pigeon_proto::{ClientFrame, MailboxEntry, MailboxItem, ServerFrame};
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::{Client, ClientError};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Ids of messages already handed out, remembered to drop redeliveries.
const REMEMBERED: usize = 10_000;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Something that happened to this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A message, decrypted.
    Message {
        /// The server's id of it.
        message_id: String,
        /// Who sent it.
        from_user: String,
        /// From which device.
        from_device: String,
        /// The plaintext.
        text: String,
        /// When the server accepted it, ms since the Unix epoch.
        sent_at_ms: u64,
    },
    /// A message that could not be decrypted (it was acked: retrying would not help).
    Undecryptable {
        /// The server's id of it.
        message_id: String,
        /// Why.
        reason: String,
    },
    /// A device of the recipient received one of this user's messages.
    Delivered {
        /// The message.
        message_id: String,
        /// The recipient user.
        by_user: String,
        /// The recipient device.
        by_device: String,
    },
    /// The recipient read this user's messages up to `up_to`.
    Read {
        /// Who read.
        reader: String,
        /// The newest message read.
        up_to: String,
    },
}

/// The live connection of one device; see the module docs.
pub struct Connection {
    client: Client,
    socket: Option<Socket>,
    backoff: Duration,
    seen: HashSet<String>,
    seen_order: VecDeque<String>,
}

impl Connection {
    pub(crate) async fn open(client: Client) -> Result<Self, ClientError> {
        let mut connection = Self {
            client,
            socket: None,
            backoff: FIRST_BACKOFF,
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
        };
        connection.connect().await?;
        Ok(connection)
    }

    async fn connect(&mut self) -> Result<(), ClientError> {
        let base = self.client.credentials.server.replacen("http", "ws", 1);
        let mut request = format!("{base}/v1/ws")
            .into_client_request()
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let auth = format!("Bearer {}", self.client.credentials.token)
            .parse()
            .map_err(|_| ClientError::Protocol("the token is not a header value".into()))?;
        request.headers_mut().insert("authorization", auth);
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        self.socket = Some(socket);
        Ok(())
    }

    /// The next event; reconnects (with backoff) when the connection drops.
    pub async fn next_event(&mut self) -> Result<Event, ClientError> {
        loop {
            let Some(socket) = self.socket.as_mut() else {
                tokio::time::sleep(self.backoff).await;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                if let Err(err) = self.connect().await {
                    tracing::debug!(%err, "reconnect failed; backing off");
                }
                continue;
            };
            let frame = match socket.next().await {
                Some(Ok(Ws::Text(text))) => text,
                Some(Ok(Ws::Close(_))) | Some(Err(_)) | None => {
                    self.socket = None;
                    continue;
                }
                Some(Ok(_)) => continue,
            };
            let frame: ServerFrame = serde_json::from_str(&frame)
                .map_err(|e| ClientError::Protocol(format!("unexpected frame: {e}")))?;
            if let Some(event) = self.on_frame(frame).await? {
                return Ok(event);
            }
        }
    }

    /// Says "read up to `up_to`" for `peer`'s messages over the socket.
    pub async fn mark_read(&mut self, peer: &str, up_to: &str) -> Result<(), ClientError> {
        let frame = ClientFrame::Read {
            peer: pigeon_proto::UserId::new(peer)
                .map_err(|e| ClientError::Protocol(e.to_string()))?,
            up_to: pigeon_proto::MessageId::new(up_to)
                .map_err(|e| ClientError::Protocol(e.to_string()))?,
            traceparent: None,
        };
        self.send(&frame).await
    }

    /// Closes the connection.
    pub async fn close(mut self) {
        if let Some(mut socket) = self.socket.take() {
            let _ = socket.close(None).await;
        }
    }

    async fn send(&mut self, frame: &ClientFrame) -> Result<(), ClientError> {
        let text =
            serde_json::to_string(frame).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let socket = self
            .socket
            .as_mut()
            .ok_or_else(|| ClientError::Transport("not connected".into()))?;
        socket
            .send(Ws::Text(text.into()))
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))
    }

    async fn on_frame(&mut self, frame: ServerFrame) -> Result<Option<Event>, ClientError> {
        match frame {
            ServerFrame::Hello { one_time_key_count }
            | ServerFrame::KeysLow { one_time_key_count } => {
                self.backoff = FIRST_BACKOFF;
                self.client.top_up_keys(one_time_key_count).await?;
                Ok(None)
            }
            ServerFrame::Deliver { entry, .. } => self.on_entry(entry).await,
            ServerFrame::Pong { .. } => Ok(None),
            ServerFrame::Error { code, message } => {
                tracing::warn!(?code, %message, "the server refused a frame");
                Ok(None)
            }
        }
    }

    async fn on_entry(&mut self, entry: MailboxEntry) -> Result<Option<Event>, ClientError> {
        let seq = entry.seq;
        let event = match entry.item {
            MailboxItem::Message {
                message_id,
                sender,
                message_type,
                body,
                sent_at_ms,
            } => {
                let message_id = message_id.to_string();
                if self.seen.contains(&message_id) {
                    None
                } else {
                    let peer = PeerDevice::new(sender.user_id.as_str(), sender.device_id.as_str());
                    let ciphertext = Ciphertext {
                        message_type: match message_type {
                            pigeon_proto::MessageType::PreKey => pigeon_crypto::MessageType::PreKey,
                            pigeon_proto::MessageType::Normal => pigeon_crypto::MessageType::Normal,
                        },
                        body,
                    };
                    let event = match self.decrypt(&peer, &ciphertext).await {
                        Ok(text) => Event::Message {
                            message_id: message_id.clone(),
                            from_user: peer.user_id,
                            from_device: peer.device_id,
                            text,
                            sent_at_ms,
                        },
                        Err(reason) => Event::Undecryptable {
                            message_id: message_id.clone(),
                            reason,
                        },
                    };
                    self.remember(message_id);
                    Some(event)
                }
            }
            MailboxItem::DeliveryReceipt { message_id, by, .. } => Some(Event::Delivered {
                message_id: message_id.to_string(),
                by_user: by.user_id.to_string(),
                by_device: by.device_id.to_string(),
            }),
            MailboxItem::ReadReceipt { reader, up_to, .. } => Some(Event::Read {
                reader: reader.to_string(),
                up_to: up_to.to_string(),
            }),
        };
        if let Err(err) = self
            .send(&ClientFrame::Ack {
                seq,
                traceparent: None,
            })
            .await
        {
            // The server resends what was not acked when we reconnect; a message is recognised
            // by its id then, and acked without being handed out twice.
            tracing::debug!(%err, "ack not sent; reconnecting");
            self.socket = None;
        }
        Ok(event)
    }

    async fn decrypt(&self, peer: &PeerDevice, ciphertext: &Ciphertext) -> Result<String, String> {
        let identity = self
            .client
            .identity_of(peer)
            .await
            .map_err(|e| e.to_string())?;
        let mut crypto = self.client.crypto.lock();
        let crypto = &mut *crypto;
        let plaintext = crypto
            .sessions
            .decrypt(&mut crypto.device, peer, &identity.curve25519, ciphertext)
            .map_err(|e| e.to_string())?;
        String::from_utf8(plaintext).map_err(|_| "the plaintext is not UTF-8".to_owned())
    }

    fn remember(&mut self, message_id: String) {
        if self.seen.insert(message_id.clone()) {
            self.seen_order.push_back(message_id);
            if self.seen_order.len() > REMEMBERED
                && let Some(old) = self.seen_order.pop_front()
            {
                self.seen.remove(&old);
            }
        }
    }
}

//! The task behind a [`crate::Connection`]: one socket, its frames in order, reconnects.
//!
//! Frames are handled in order: a message is decrypted and handed out, receipts are handed out,
//! each to be acked when the application takes it; a message handed out before is acked at
//! once and dropped. Sends are numbered, written, and answered when the server's
//! `sent` / `send_failed` with their number comes back; those still waiting when the socket
//! drops fail with a transport error, and the client sends them again over HTTP.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use pigeon_crypto::{Ciphertext, PeerDevice};
use pigeon_proto::{
    ClientFrame, MailboxEntry, MailboxItem, SendResponse, ServerFrame, WS_REASON_REPLACED,
};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::connection::{Arrival, Command, Event};
use crate::{Client, ClientError};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Ids of messages already handed out, remembered to drop redeliveries.
const REMEMBERED: usize = 10_000;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long one reconnect attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes one read of the socket takes. tungstenite zeroes this much before every read:
/// at its default of 128 KiB that was a tenth of a busy client's CPU (`pigeon bench dm`),
/// while the frames a client receives are mostly a few hundred bytes. Larger frames still
/// arrive whole, over several reads.
const READ_BUFFER: usize = 16 * 1024;

type Reply = oneshot::Sender<Result<SendResponse, ClientError>>;

pub(crate) struct Driver {
    client: Client,
    socket: Option<Socket>,
    backoff: Duration,
    seen: HashSet<String>,
    seen_order: VecDeque<String>,
    events: mpsc::UnboundedSender<Arrival>,
    commands: mpsc::UnboundedReceiver<Command>,
    max_frame_bytes: Arc<AtomicUsize>,
    /// Sends written and not answered yet, by number.
    pending: HashMap<u64, Reply>,
    /// Acks and read marks asked for while disconnected, written at the next connection.
    backlog: Vec<ClientFrame>,
}

impl Driver {
    /// Connects once (an error here is the caller's); later drops reconnect by themselves.
    pub(crate) async fn connect(
        client: Client,
        events: mpsc::UnboundedSender<Arrival>,
        commands: mpsc::UnboundedReceiver<Command>,
        max_frame_bytes: Arc<AtomicUsize>,
    ) -> Result<Self, ClientError> {
        let mut driver = Self {
            client,
            socket: None,
            backoff: FIRST_BACKOFF,
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            events,
            commands,
            max_frame_bytes,
            pending: HashMap::new(),
            backlog: Vec::new(),
        };
        driver.open_socket().await?;
        Ok(driver)
    }

    async fn open_socket(&mut self) -> Result<(), ClientError> {
        let base = self.client.credentials.server.replacen("http", "ws", 1);
        let mut request = format!("{base}/v1/ws")
            .into_client_request()
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let auth = format!("Bearer {}", self.client.credentials.token)
            .parse()
            .map_err(|_| ClientError::Protocol("the token is not a header value".into()))?;
        request.headers_mut().insert("authorization", auth);
        // Frames are written whole and batched here: no waiting on Nagle's algorithm.
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
        let (socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        self.socket = Some(socket);
        Ok(())
    }

    /// Runs until closed, or until the connection's handle is gone.
    pub(crate) async fn run(mut self) {
        loop {
            let Some(socket) = self.socket.as_mut() else {
                if !self.reconnect().await {
                    return;
                }
                continue;
            };
            tokio::select! {
                incoming = socket.next() => {
                    let text = match incoming {
                        Some(Ok(Ws::Text(text))) => text,
                        Some(Ok(Ws::Close(Some(close)))) if close.reason == WS_REASON_REPLACED => {
                            // Another connection of this device took over: reconnecting
                            // would take it back, and so on.
                            self.lost();
                            let _ = self.events.send(Arrival {
                                event: Err(ClientError::Transport(
                                    "replaced by a newer connection of this device".into(),
                                )),
                                ack: None,
                            });
                            return;
                        }
                        Some(Ok(Ws::Close(_)) | Err(_)) | None => {
                            self.lost();
                            continue;
                        }
                        Some(Ok(_)) => continue,
                    };
                    let handled = match serde_json::from_str::<ServerFrame>(&text) {
                        Ok(frame) => self.on_frame(frame).await,
                        Err(e) => Err(ClientError::Protocol(format!("unexpected frame: {e}"))),
                    };
                    let delivered = match handled {
                        Ok(Some(arrival)) => self.events.send(arrival),
                        Ok(None) => Ok(()),
                        Err(err) => self.events.send(Arrival { event: Err(err), ack: None }),
                    };
                    if delivered.is_err() {
                        return;
                    }
                }
                command = self.commands.recv() => {
                    let Some(command) = command else { return };
                    if !self.on_command(command).await {
                        return;
                    }
                    // Whatever else is queued goes out in the same write.
                    while let Ok(command) = self.commands.try_recv() {
                        if !self.on_command(command).await {
                            return;
                        }
                    }
                }
            }
            self.flush().await;
        }
    }

    /// Waits out the backoff and connects again, taking commands meanwhile: sends fail (the
    /// client sends them over HTTP), acks and read marks wait for the next connection, a close
    /// closes. False when the driver is to stop.
    async fn reconnect(&mut self) -> bool {
        let retry_at = tokio::time::Instant::now() + self.backoff;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(retry_at) => break,
                command = self.commands.recv() => match command {
                    None => return false,
                    Some(Command::Close(done)) => {
                        let _ = done.send(());
                        return false;
                    }
                    Some(Command::Send { reply, .. }) => {
                        let _ = reply.send(Err(ClientError::Transport("not connected".into())));
                    }
                    Some(Command::Frame(frame)) => self.backlog.push(frame),
                },
            }
        }
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        match tokio::time::timeout(CONNECT_TIMEOUT, self.open_socket()).await {
            Ok(Ok(())) => {
                for frame in std::mem::take(&mut self.backlog) {
                    self.write(&frame).await;
                }
                self.flush().await;
            }
            Ok(Err(err)) => tracing::debug!(%err, "reconnect failed; backing off"),
            Err(_) => tracing::debug!("reconnect timed out; backing off"),
        }
        true
    }

    /// Queues the frame a command asks for; false when the driver is to stop.
    async fn on_command(&mut self, command: Command) -> bool {
        match command {
            Command::Frame(frame) => self.write(&frame).await,
            Command::Send { id, text, reply } => {
                self.pending.insert(id, reply);
                // Unwritten, it fails with the others waiting, and goes over HTTP.
                self.write_text(text).await;
            }
            Command::Close(done) => {
                if let Some(mut socket) = self.socket.take() {
                    let _ = socket.close(None).await;
                }
                self.lost();
                let _ = done.send(());
                return false;
            }
        }
        true
    }

    /// The socket is gone: sends waiting for an answer fail (the client resends them over
    /// HTTP), and new ones go over HTTP until the next `hello`.
    fn lost(&mut self) {
        self.socket = None;
        self.max_frame_bytes.store(0, Ordering::Relaxed);
        for (_, reply) in self.pending.drain() {
            let _ = reply.send(Err(ClientError::Transport("the connection dropped".into())));
        }
    }

    /// Queues a frame for the next flush; an ack or read mark the socket could not take
    /// waits for the next connection.
    async fn write(&mut self, frame: &ClientFrame) {
        match serde_json::to_string(frame) {
            Ok(text) => {
                if !self.write_text(text).await {
                    self.backlog.push(frame.clone());
                }
            }
            Err(err) => tracing::error!(%err, "a frame could not be encoded"),
        }
    }

    /// Queues an encoded frame for the next flush; false when the socket is gone (dropped, so
    /// the sends waiting for answers fail and go over HTTP).
    async fn write_text(&mut self, text: String) -> bool {
        let Some(socket) = self.socket.as_mut() else {
            self.lost();
            return false;
        };
        if let Err(err) = socket.feed(Ws::Text(text.into())).await {
            tracing::debug!(%err, "a frame was not sent; reconnecting");
            self.lost();
            return false;
        }
        true
    }

    /// Writes what was queued.
    async fn flush(&mut self) {
        if let Some(socket) = self.socket.as_mut()
            && let Err(err) = socket.flush().await
        {
            tracing::debug!(%err, "frames were not sent; reconnecting");
            self.lost();
        }
    }

    async fn on_frame(&mut self, frame: ServerFrame) -> Result<Option<Arrival>, ClientError> {
        match frame {
            ServerFrame::Hello {
                one_time_key_count,
                max_frame_bytes,
            } => {
                self.backoff = FIRST_BACKOFF;
                self.max_frame_bytes
                    .store(max_frame_bytes, Ordering::Relaxed);
                self.client.top_up_keys(one_time_key_count).await?;
                Ok(None)
            }
            ServerFrame::KeysLow { one_time_key_count } => {
                self.client.top_up_keys(one_time_key_count).await?;
                Ok(None)
            }
            ServerFrame::Deliver { entry, .. } => Ok(self.on_entry(entry).await),
            ServerFrame::Sent { id, result } => {
                self.answer(id, Ok(result));
                Ok(None)
            }
            ServerFrame::SendFailed {
                id, status, error, ..
            } => {
                self.answer(
                    id,
                    Err(ClientError::Server {
                        status,
                        body: error,
                    }),
                );
                Ok(None)
            }
            ServerFrame::Pong { .. } => Ok(None),
            ServerFrame::Error { code, message } => {
                tracing::warn!(?code, %message, "the server refused a frame");
                Ok(None)
            }
        }
    }

    fn answer(&mut self, id: u64, result: Result<SendResponse, ClientError>) {
        match self.pending.remove(&id) {
            Some(reply) => {
                let _ = reply.send(result);
            }
            None => tracing::warn!(id, "an answer to no send of this connection"),
        }
    }

    /// The arrival of a mailbox entry, to be acked when taken; `None` for a message handed out
    /// before, acked here.
    async fn on_entry(&mut self, entry: MailboxEntry) -> Option<Arrival> {
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
        match event {
            Some(event) => Some(Arrival {
                event: Ok(event),
                ack: Some(seq),
            }),
            None => {
                self.write(&ClientFrame::Ack {
                    seq,
                    traceparent: None,
                })
                .await;
                None
            }
        }
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

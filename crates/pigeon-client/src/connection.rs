//! [`Connection`]: the live WebSocket of one device.
//!
//! A task of its own (`driver`) keeps the socket: it decrypts what arrives and hands it out as
//! an [`Event`], acked when [`Connection::next_event`] takes it — what the application never
//! took is sent again at the next connection. It reconnects with exponential backoff when the
//! socket drops, and the server resends everything not acked, so nothing is lost (a message
//! handed out before — taken, but the ack was lost — is recognised by its id, acked, and not
//! handed out twice).
//!
//! While a connection is open, [`crate::Client::send_text`] sends over it (`send` frames)
//! instead of making an HTTP request per message; a send whose answer the socket cannot bring
//! (it dropped, or the message is larger than the server takes in a frame) goes over HTTP with
//! the same `client_msg_id`, so it is stored once either way.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use pigeon_proto::{ClientFrame, SendRequest, SendResponse};
use tokio::sync::{mpsc, oneshot};

use crate::driver::Driver;
use crate::{Client, ClientError};

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

/// An event the driver has for the application, and the mailbox entry to ack once it is taken.
pub(crate) struct Arrival {
    pub(crate) event: Result<Event, ClientError>,
    pub(crate) ack: Option<u64>,
}

/// What the handle and the client ask of the driver.
pub(crate) enum Command {
    /// A frame that needs no answer.
    Frame(ClientFrame),
    /// A `send` frame (numbered `id`, already encoded); the answer comes back on `reply`.
    Send {
        id: u64,
        text: String,
        reply: oneshot::Sender<Result<SendResponse, ClientError>>,
    },
    /// Close the socket and stop.
    Close(oneshot::Sender<()>),
}

/// The client's way to a live connection: sends go over it while it is open.
#[derive(Clone)]
pub(crate) struct Link {
    commands: mpsc::UnboundedSender<Command>,
    /// Largest frame the server takes now (from its `hello`); 0 while disconnected.
    max_frame_bytes: Arc<AtomicUsize>,
    /// The number of the last `send` frame.
    last_id: Arc<AtomicU64>,
}

impl Link {
    /// Sends `message` over the socket and returns where its answer will come; `None` when
    /// the connection is not open or the frame would be larger than the server takes.
    pub(crate) fn send(
        &self,
        message: &SendRequest,
        traceparent: Option<String>,
    ) -> Option<oneshot::Receiver<Result<SendResponse, ClientError>>> {
        let id = self.last_id.fetch_add(1, Ordering::Relaxed) + 1;
        let frame = ClientFrame::Send {
            id,
            message: message.clone(),
            traceparent,
        };
        let text = serde_json::to_string(&frame).ok()?;
        if text.len() > self.max_frame_bytes.load(Ordering::Relaxed) {
            return None;
        }
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::Send { id, text, reply }).ok()?;
        Some(answer)
    }
}

/// The live connection of one device; see the module docs. Dropping it closes the socket.
///
/// Poll [`Connection::next_event`]: events wait in memory until taken.
pub struct Connection {
    events: mpsc::UnboundedReceiver<Arrival>,
    commands: mpsc::UnboundedSender<Command>,
    task: tokio::task::JoinHandle<()>,
}

impl Connection {
    pub(crate) async fn open(client: Client) -> Result<Self, ClientError> {
        let (events_tx, events) = mpsc::unbounded_channel();
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let max_frame_bytes = Arc::new(AtomicUsize::new(0));
        let driver = Driver::connect(
            client.clone(),
            events_tx,
            commands_rx,
            max_frame_bytes.clone(),
        )
        .await?;
        client.attach(Link {
            commands: commands.clone(),
            max_frame_bytes,
            last_id: Arc::default(),
        });
        Ok(Self {
            events,
            commands,
            task: tokio::spawn(driver.run()),
        })
    }

    /// The next event, acked to the server as it is taken; the connection reconnects (with
    /// backoff) by itself when it drops.
    pub async fn next_event(&mut self) -> Result<Event, ClientError> {
        let Some(arrival) = self.events.recv().await else {
            return Err(ClientError::Transport("the connection has stopped".into()));
        };
        if let Some(seq) = arrival.ack {
            // Not acked (the connection stopped): the entry comes again at the next one.
            let _ = self.commands.send(Command::Frame(ClientFrame::Ack {
                seq,
                traceparent: None,
            }));
        }
        arrival.event
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
        self.commands
            .send(Command::Frame(frame))
            .map_err(|_| ClientError::Transport("the connection has stopped".into()))
    }

    /// Closes the connection.
    pub async fn close(self) {
        let (done, closed) = oneshot::channel();
        if self.commands.send(Command::Close(done)).is_ok() {
            let _ = closed.await;
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

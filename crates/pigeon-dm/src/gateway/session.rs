//! One live session: the device's mailbox, in order, over a WebSocket, with acks.
//!
//! The session reads its mailbox from the store after a cursor, so what it sends never depends
//! on which wake-ups arrived: at connect it sends every unacked entry (cursor 0), later what is
//! new — a few entries a read while it keeps up, whole pages while it catches up. Each delivery
//! is in flight until acked; one not acked within the ack timeout gets the
//! `websocket_delivery_timeout` event and goes to push (messages only, never receipts) — also
//! when the connection drops before the timeout — and is sent again at the next connection if
//! still unacked. Acks that arrive together (a client acks what it took in one write) go to the
//! store together, once no further frame is waiting: one commit and one wake-up of each sender
//! for all of them, where each ack alone had cost its own.
//!
//! The device may send messages over the session too (`send` frames): each is accepted as
//! `POST /v1/messages` accepts it, in a task of its own (so a send's durable commit never holds
//! up the socket, and a send under way finishes even if the connection drops), and answered
//! with `sent` or `send_failed` as it completes.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket};
use futures::FutureExt as _;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{SinkExt as _, StreamExt as _};
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::{Context, KeyValue};
use pigeon_proto::{
    ClientFrame, ErrorCode, ReadRequest, SendRequest, ServerFrame, WS_CLOSE_BAD_FRAME,
    WS_CLOSE_POLICY, WS_CLOSE_TOO_BIG, WS_REASON_REPLACED,
};
use pigeon_store::{MailboxEntry, MailboxItem, Store, StoreError};
use tokio::task::JoinHandle;

use super::registry::{Hint, Inbox};
use crate::api::{accept, acknowledge, record_read};
use crate::auth::Device;
use crate::delivery::{PendingDelivery, method, push_fallback};
use crate::{DmState, convert, spans};

/// Most frames a client may send per second, acks of deliveries aside (those are bounded by
/// what was delivered), before the session is closed.
const MAX_FRAMES_PER_SECOND: u32 = 100;
/// Mailbox entries read per store round trip at connect, and after a full page.
const PAGE: usize = 100;
/// Entries read when a wake-up comes while the session is keeping up: live deliveries arrive
/// one or two at a time, and a read this small is cheap enough for the store to do on the
/// calling thread (SQLite: no hop to a blocking thread and back). A full small page is followed
/// by a whole [`PAGE`].
const LIVE_PAGE: usize = 4;
/// Below this many unclaimed one-time keys the device is told to upload more (`keys_low`).
const KEYS_LOW: u64 = 10;
/// Least time between two counts of the device's one-time keys while pre-key messages keep
/// coming. Until a peer hears back, every message it sends is a pre-key message, though only
/// the first used up a key: counting after each one was ~5 % of the server's async CPU in
/// `pigeon bench dm`, each count a hop to a blocking thread.
const KEYS_COUNT_EVERY: Duration = Duration::from_secs(1);
/// Frames taken from the socket in one go when they are already there, before the session
/// looks at its other work.
const FRAMES_AT_ONCE: usize = 64;
/// Sends of one session under way at once; past this the session reads no more frames until
/// one finishes (the client's writes then wait in TCP).
const MAX_SENDS_IN_FLIGHT: usize = 64;

/// The sends under way, each answering with its `sent` or `send_failed` frame. Made at the
/// first send: an idle session pays nothing for it. The frame comes boxed: a frame inline
/// would make room for itself in every idle session's state (~350 bytes).
type Sends = Option<FuturesUnordered<JoinHandle<Box<ServerFrame>>>>;

struct InFlight {
    sent: Instant,
    /// A message (not a receipt): its ack counts as a delivery.
    message: bool,
    span: Context,
    route: Option<Context>,
    /// A message's delivery, ended at its ack; handed to push at the ack timeout.
    delivery: Option<PendingDelivery>,
    timed_out: bool,
}

struct Session {
    state: DmState,
    device: Device,
    cursor: u64,
    in_flight: BTreeMap<u64, InFlight>,
    hints: HashMap<u64, Hint>,
    /// Entries the next mailbox read asks for: [`PAGE`] or [`LIVE_PAGE`].
    page: usize,
    /// A pre-key message was delivered since the last key count: it may have used up one of
    /// this device's one-time keys.
    keys_used: bool,
    /// When the keys were last counted, if they were since `hello`.
    keys_counted_at: Option<Instant>,
    sends: Sends,
    /// Acks taken from the socket and not yet handed to the store, each with its delivery's
    /// span: handed over together once the frames already here are taken.
    acks: Vec<(u64, Context)>,
}

/// Whether a frame counts against the rate limit.
enum Counted {
    Yes,
    Free,
}

/// Why a session ends.
enum End {
    Closed,
    Close(u16, &'static str),
}

pub(super) async fn run(mut socket: WebSocket, state: DmState, device: Device) {
    let (id, inbox) = state.sessions().register(&device.device_id);
    let device_id = device.device_id.clone();
    // Other nodes route this device's deliveries here from now on. A failed claim only means
    // they push instead; the session reads the mailbox itself either way.
    if let Err(err) = state.directory().claim(&device_id).await {
        tracing::warn!(%err, "session not claimed in the directory");
    }
    let mut session = Session {
        state: state.clone(),
        device,
        cursor: 0,
        in_flight: BTreeMap::new(),
        hints: HashMap::new(),
        page: PAGE,
        keys_used: false,
        keys_counted_at: None,
        sends: None,
        acks: Vec::new(),
    };
    let end = session.serve(&mut socket, &inbox, id).await;
    // What the client acked before it went is recorded, not sent again at its next connection.
    session.record_acks();
    // Replaced by a newer session on this node: that one holds the claim now.
    if state.sessions().unregister(&device_id, id)
        && let Err(err) = state.directory().release(&device_id).await
    {
        tracing::warn!(%err, "session not released in the directory");
    }
    if let End::Close(code, reason) = end {
        let _ = socket
            .send(WsMessage::Close(Some(CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            })))
            .await;
    }
    session.abandon();
}

impl Session {
    async fn serve(&mut self, socket: &mut WebSocket, inbox: &Inbox, id: u64) -> End {
        let count = self
            .state
            .store()
            .one_time_key_count(self.device.device_id.clone())
            .await
            .unwrap_or(0);
        if self
            .send(
                socket,
                &ServerFrame::Hello {
                    one_time_key_count: count,
                    max_frame_bytes: self.state.config().limits.max_frame_bytes,
                },
            )
            .await
            .is_err()
        {
            return End::Closed;
        }
        // The work of a frame or a wake-up runs boxed: an idle session's task then holds only
        // what waiting needs (a whole idle connection is ~6 KiB), not the ~1 KiB state of
        // the deepest delivery or frame handling.
        if let Err(end) = Box::pin(self.deliver_new(socket)).await {
            return end;
        }
        // `hello` carried the count after every key those entries used.
        self.keys_used = false;
        // Mailbox reads run beside the socket, not in front of it: acks keep being taken
        // while a read is in flight. Awaited inline, a slow read (PostgreSQL under load)
        // held back every ack behind it, and with new messages waking the session all the
        // time it took one frame per read.
        let state = self.state.clone();
        let store = state.store();
        let mut reading: Option<MailboxRead<'_>> = None;
        let mut read_again = false;
        let mut rate = FrameRate::new();
        loop {
            let reading_frames = self.reading_frames();
            let due = self.next_due(reading.is_none());
            let result = tokio::select! {
                () = inbox.woken() => {
                    // A newer session of this device took over (its registration woke us).
                    if !self.state.sessions().is_current(&self.device.device_id, id) {
                        return End::Close(WS_CLOSE_POLICY, WS_REASON_REPLACED);
                    }
                    // The router queues a hint before it wakes: take it, or the entry would go
                    // out without its trace context.
                    self.take_hints(inbox);
                    // A read in flight may have started before this entry was committed.
                    if reading.is_some() {
                        read_again = true;
                    } else {
                        reading = Some(self.read_after_cursor(store));
                    }
                    Ok(())
                }
                read = finished(&mut reading) => {
                    reading = None;
                    match Box::pin(self.deliver_page(socket, read)).await {
                        Ok(more) if more || std::mem::take(&mut read_again) => {
                            reading = Some(self.read_after_cursor(store));
                            Ok(())
                        }
                        Ok(_) => Box::pin(self.check_keys(socket)).await,
                        Err(end) => Err(end),
                    }
                }
                answer = answered(&mut self.sends) => Box::pin(self.answer_sends(socket, answer)).await,
                // Only while a delivery waits for its ack or a key count is held back: an idle
                // session sets no timer.
                () = sleep_until_due(due) => {
                    self.check_timeouts();
                    // Never beside a read in flight (which ends with its own key check): that
                    // read may hold a reader permit already handed to it, and a count waiting
                    // for another permit while other sessions do the same would wait for ever.
                    if reading.is_none() {
                        Box::pin(self.check_keys(socket)).await
                    } else {
                        Ok(())
                    }
                }
                incoming = socket.recv(), if reading_frames => {
                    let mut result = Box::pin(self.on_message(socket, incoming, &mut rate)).await;
                    // The frames already here are taken now, so acks that came together go
                    // to the store together (one commit, one task, one wake-up of each
                    // sender). Bounded, so wake-ups and timers get their turn.
                    for _ in 1..FRAMES_AT_ONCE {
                        if result.is_err() || !self.reading_frames() {
                            break;
                        }
                        let Some(incoming) = socket.recv().now_or_never() else {
                            break;
                        };
                        result = Box::pin(self.on_message(socket, incoming, &mut rate)).await;
                    }
                    self.record_acks();
                    result
                }
            };
            if let Err(end) = result {
                return end;
            }
        }
    }

    /// Whether the session takes more frames: not while its sends under way are at the limit.
    fn reading_frames(&self) -> bool {
        self.sends
            .as_ref()
            .is_none_or(|s| s.len() < MAX_SENDS_IN_FLIGHT)
    }

    /// Handles what one read of the socket gave.
    async fn on_message(
        &mut self,
        socket: &mut WebSocket,
        incoming: Option<Result<WsMessage, axum::Error>>,
        rate: &mut FrameRate,
    ) -> Result<(), End> {
        match incoming {
            None | Some(Ok(WsMessage::Close(_))) => Err(End::Closed),
            Some(Err(err)) => Err(classify(&err)),
            Some(Ok(WsMessage::Text(text))) => {
                match Box::pin(self.on_frame(socket, &text)).await? {
                    Counted::Free => Ok(()),
                    Counted::Yes if rate.allows_another() => Ok(()),
                    Counted::Yes => Err(End::Close(WS_CLOSE_POLICY, "too many frames")),
                }
            }
            Some(Ok(WsMessage::Binary(_))) => {
                Err(End::Close(WS_CLOSE_BAD_FRAME, "frames are JSON text"))
            }
            Some(Ok(_)) => Ok(()),
        }
    }

    /// Sends a frame now, with anything queued before it.
    async fn send(&self, socket: &mut WebSocket, frame: &ServerFrame) -> Result<(), End> {
        self.queue(socket, frame).await?;
        socket.flush().await.map_err(|_| End::Closed)
    }

    /// Queues a frame; it goes out at the next flush, or once the write buffer fills.
    async fn queue(&self, socket: &mut WebSocket, frame: &ServerFrame) -> Result<(), End> {
        let text = serde_json::to_string(frame).map_err(|_| End::Closed)?;
        socket
            .feed(WsMessage::Text(text.into()))
            .await
            .map_err(|_| End::Closed)
    }

    /// Sends every mailbox entry after the cursor, in order.
    async fn deliver_new(&mut self, socket: &mut WebSocket) -> Result<(), End> {
        loop {
            let read = self.read_after_cursor(self.state.store()).await;
            if !self.deliver_page(socket, read).await? {
                return Ok(());
            }
        }
    }

    /// Keeps a hint for its entry. An entry already sent (read at connect before its hint
    /// came) keeps only the hint's delivery, to end at its ack — or ends it now, if acked.
    fn keep_hint(&mut self, hint: Hint) {
        if hint.seq > self.cursor {
            self.hints.insert(hint.seq, hint);
            return;
        }
        let Some(delivery) = hint.delivery else {
            return;
        };
        match self.in_flight.get_mut(&hint.seq) {
            Some(flight) if !flight.timed_out => flight.delivery = Some(delivery),
            // Pushed at its timeout already, without this delivery: no outcome to give it.
            Some(_) => {}
            None => delivery.delivered_meanwhile(),
        }
    }

    /// Keeps every hint queued for this session.
    fn take_hints(&mut self, inbox: &Inbox) {
        for hint in inbox.take_hints() {
            self.keep_hint(hint);
        }
    }

    /// The next page of the mailbox after the cursor (owning everything but the store).
    fn read_after_cursor<'a>(&self, store: &'a dyn Store) -> MailboxRead<'a> {
        store.fetch(self.device.device_id.clone(), self.cursor, self.page)
    }

    /// Sends a page the session read; says whether the page was full (more may follow).
    async fn deliver_page(
        &mut self,
        socket: &mut WebSocket,
        read: Result<Vec<MailboxEntry>, StoreError>,
    ) -> Result<bool, End> {
        let entries = match read {
            Ok(entries) => entries,
            Err(err) => {
                tracing::warn!(%err, "could not read a mailbox; retrying at the next wake");
                return Ok(false);
            }
        };
        let full = entries.len() == self.page;
        self.page = if full { PAGE } else { LIVE_PAGE };
        // One write for the page, not one per entry.
        for entry in entries {
            self.deliver(socket, entry).await?;
        }
        // A hint behind the cursor names an entry this session will never send (acked over
        // HTTP meanwhile: seqs are committed in order, so it would have been read): drop it,
        // its message delivered by that sync.
        if !self.hints.is_empty() {
            let cursor = self.cursor;
            self.hints.retain(|&seq, hint| {
                if seq > cursor {
                    return true;
                }
                if let Some(delivery) = hint.delivery.take() {
                    delivery.delivered("sync");
                }
                false
            });
        }
        socket.flush().await.map_err(|_| End::Closed)?;
        Ok(full)
    }

    /// After pre-key messages (sessions other devices started with this one's one-time keys),
    /// `keys_low` when few keys are left, so the device uploads more before senders fall back
    /// to its fallback key. At most once per [`KEYS_COUNT_EVERY`]: a count held back is made
    /// when the interval is over (the session's timer is set for it).
    async fn check_keys(&mut self, socket: &mut WebSocket) -> Result<(), End> {
        if !self.keys_used
            || self
                .keys_count_due()
                .is_some_and(|due| due > Instant::now())
        {
            return Ok(());
        }
        self.keys_used = false;
        self.keys_counted_at = Some(Instant::now());
        let device = self.device.device_id.clone();
        match self.state.store().one_time_key_count(device).await {
            Ok(count) if count < KEYS_LOW => {
                self.send(
                    socket,
                    &ServerFrame::KeysLow {
                        one_time_key_count: count,
                    },
                )
                .await
            }
            Ok(_) => Ok(()),
            Err(err) => {
                tracing::warn!(%err, "could not count one-time keys");
                Ok(())
            }
        }
    }

    async fn deliver(
        &mut self,
        socket: &mut WebSocket,
        entry: pigeon_store::MailboxEntry,
    ) -> Result<(), End> {
        let seq = entry.seq;
        if matches!(&entry.item, MailboxItem::Message { envelope_type, .. } if *envelope_type == convert::PRE_KEY)
        {
            self.keys_used = true;
        }
        self.cursor = self.cursor.max(seq);
        let (route, routed) = match self.hints.remove(&seq) {
            Some(hint) => (Some(hint.route), hint.delivery),
            None => (None, None),
        };
        // A receipt names the message it is about: its delivery joins that message's journey.
        let (kind, about, delivery, sent_in) = match &entry.item {
            MailboxItem::Message {
                message_id,
                sender_user,
                trace_context,
                ..
            } => (
                "message",
                message_id,
                Some(routed.unwrap_or_else(|| {
                    PendingDelivery::untraced(message_id.clone(), sender_user.clone())
                })),
                trace_context.clone(),
            ),
            MailboxItem::DeliveryReceipt { message_id, .. } => {
                ("delivery_receipt", message_id, None, None)
            }
            MailboxItem::ReadReceipt {
                up_to_message_id, ..
            } => ("read_receipt", up_to_message_id, None, None),
        };
        let attrs = vec![
            KeyValue::new("mailbox.seq", seq as i64),
            KeyValue::new("mailbox.kind", kind),
            KeyValue::new("message.id", about.to_string()),
        ];
        let span = match &route {
            // Routed just now: a child of the routing (a receipt: of its `.notify`).
            Some(route) => {
                let _parent = route.clone().attach();
                spans::child("messaging.deliver_websocket", attrs)
            }
            // A resend at a reconnect, maybe hours later: a trace of its own, linked to the
            // send (and joined to it by `message.id` in the journey store).
            None => spans::linked_root("messaging.deliver_websocket", attrs, sent_in.as_deref()),
        };
        let traceparent = spans::traceparent(&span);
        let wire = match convert::entry(entry) {
            Ok(wire) => wire,
            Err(err) => {
                tracing::error!(%err, "a mailbox entry could not be converted");
                return Ok(());
            }
        };
        self.queue(
            socket,
            &ServerFrame::Deliver {
                entry: wire,
                traceparent,
            },
        )
        .await?;
        self.in_flight.insert(
            seq,
            InFlight {
                sent: Instant::now(),
                message: delivery.is_some(),
                span,
                route,
                delivery,
                timed_out: false,
            },
        );
        Ok(())
    }

    /// Handles one client frame; says whether it counts against the frame rate limit.
    async fn on_frame(&mut self, socket: &mut WebSocket, text: &str) -> Result<Counted, End> {
        let Ok(frame) = serde_json::from_str::<ClientFrame>(text) else {
            return Err(End::Close(WS_CLOSE_BAD_FRAME, "not a known frame"));
        };
        match frame {
            ClientFrame::Ping { nonce } => self
                .send(socket, &ServerFrame::Pong { nonce })
                .await
                .map(|()| Counted::Yes),
            ClientFrame::Ack { seq, .. } => {
                let Some(flight) = self.in_flight.remove(&seq) else {
                    let err =
                        crate::ApiError::Invalid(format!("seq {seq} is not awaiting an ack here"));
                    return self.refuse(socket, &err).await.map(|()| Counted::Yes);
                };
                self.acks.push((seq, flight.span.clone()));
                finish(&self.state, flight, true);
                Ok(Counted::Free)
            }
            ClientFrame::Send {
                id,
                message,
                traceparent,
            } => self.on_send(socket, id, message, traceparent).await,
            ClientFrame::Read { peer, up_to, .. } => {
                match record_read(&self.state, &self.device, ReadRequest { peer, up_to }).await {
                    Ok(_) => Ok(Counted::Yes),
                    Err(err) => self.refuse(socket, &err).await.map(|()| Counted::Yes),
                }
            }
        }
    }

    /// Hands the acks taken so far to the store, in a task beside the session: a busy
    /// device's acks are committed together instead of one after the other, and the socket is
    /// never held up by a commit.
    fn record_acks(&mut self) {
        if self.acks.is_empty() {
            return;
        }
        let acks = std::mem::take(&mut self.acks);
        let (state, device) = (self.state.clone(), self.device.clone());
        self.state.tasks().spawn(async move {
            let count = acks.len();
            if let Err(err) = acknowledge(&state, &device, acks).await {
                tracing::warn!(%err, count, "acks could not be recorded; their entries are sent again at the next connection");
            }
        });
    }

    /// A `send` frame: refused at once past the device's rate limit (counted against the frame
    /// limit, so a flood of them closes the session), otherwise accepted in a task of its own.
    async fn on_send(
        &mut self,
        socket: &mut WebSocket,
        id: u64,
        message: SendRequest,
        traceparent: Option<String>,
    ) -> Result<Counted, End> {
        if let Err(err) = self.state.send_limiter().check(&self.device.device_id) {
            return self
                .send(socket, &send_failed(id, &err))
                .await
                .map(|()| Counted::Yes);
        }
        let (state, device) = (self.state.clone(), self.device.clone());
        let parent = spans::continued(traceparent.as_deref());
        let task = self.state.tasks().spawn(
            async move {
                Box::new(match accept(&state, &device, message).await {
                    Ok(result) => ServerFrame::Sent { id, result },
                    Err(err) => send_failed(id, &err),
                })
            }
            .with_context(parent),
        );
        self.sends
            .get_or_insert_with(FuturesUnordered::new)
            .push(task);
        Ok(Counted::Free)
    }

    /// Writes the answer of a finished send, and of every other send finished by now (sends of
    /// one group commit finish together), in one write.
    async fn answer_sends(
        &mut self,
        socket: &mut WebSocket,
        first: Result<Box<ServerFrame>, tokio::task::JoinError>,
    ) -> Result<(), End> {
        let mut answer = Some(first);
        while let Some(finished) = answer {
            match finished {
                Ok(frame) => self.queue(socket, &frame).await?,
                Err(err) => {
                    tracing::error!(%err, "a send over the socket failed to finish; the client retries it")
                }
            }
            answer = self
                .sends
                .as_mut()
                .and_then(|sends| sends.next().now_or_never().flatten());
        }
        socket.flush().await.map_err(|_| End::Closed)
    }

    async fn refuse(&self, socket: &mut WebSocket, err: &crate::ApiError) -> Result<(), End> {
        let code = match err {
            crate::ApiError::Forbidden(_) => ErrorCode::Forbidden,
            crate::ApiError::NotFound(_) => ErrorCode::NotFound,
            crate::ApiError::Internal(_) => ErrorCode::Internal,
            _ => ErrorCode::Invalid,
        };
        self.send(
            socket,
            &ServerFrame::Error {
                code,
                message: err.to_string(),
            },
        )
        .await
    }

    /// When the next count of keys may be made, after the last one.
    fn keys_count_due(&self) -> Option<Instant> {
        self.keys_counted_at.map(|at| at + KEYS_COUNT_EVERY)
    }

    /// When the session's timer has to fire: the first ack timeout, or a key count held back
    /// (only while no read is in flight: the read ends with a key check of its own).
    fn next_due(&self, idle_reader: bool) -> Option<Instant> {
        let keys = (self.keys_used && idle_reader)
            .then(|| self.keys_count_due())
            .flatten();
        self.next_timeout().into_iter().chain(keys).min()
    }

    /// When the oldest delivery still waiting for its ack times out.
    fn next_timeout(&self) -> Option<Instant> {
        let timeout = self.state.config().ack_timeout;
        self.in_flight
            .values()
            .filter(|f| !f.timed_out)
            .map(|f| f.sent + timeout)
            .min()
    }

    /// Messages not acked in time: the timeout event, then push (once).
    fn check_timeouts(&mut self) {
        let timeout = self.state.config().ack_timeout;
        for (seq, flight) in &mut self.in_flight {
            if flight.timed_out || flight.sent.elapsed() < timeout {
                continue;
            }
            flight.timed_out = true;
            let span = flight.span.span();
            span.add_event(
                "websocket_delivery_timeout",
                vec![KeyValue::new("timeout_ms", timeout.as_millis() as i64)],
            );
            span.set_attribute(KeyValue::new("websocket.ack_received", false));
            if let Some(delivery) = flight.delivery.take() {
                let parent = flight.push_parent();
                push_at_timeout(
                    &self.state,
                    &self.device,
                    *seq,
                    flight.sent,
                    parent,
                    delivery,
                );
            }
        }
    }

    /// The connection is gone: end the spans of what was never acked, and keep each message's
    /// promise of a push at its ack timeout — a device that drops the connection right after
    /// a delivery (an app closed) still hears of the message, unless it acks it meanwhile on a
    /// new connection (`push_fallback` checks). A message routed here and not yet sent gets
    /// the same promise, counted from now.
    fn abandon(&mut self) {
        for (seq, mut flight) in std::mem::take(&mut self.in_flight) {
            if !flight.timed_out
                && let Some(delivery) = flight.delivery.take()
            {
                let parent = flight.push_parent();
                push_at_timeout(
                    &self.state,
                    &self.device,
                    seq,
                    flight.sent,
                    parent,
                    delivery,
                );
            }
            finish(&self.state, flight, false);
        }
        for (seq, hint) in std::mem::take(&mut self.hints) {
            if let Some(delivery) = hint.delivery {
                let now = Instant::now();
                push_at_timeout(&self.state, &self.device, seq, now, hint.route, delivery);
            }
        }
    }
}

impl InFlight {
    /// The parent of this delivery's push: its routing, or its own span (a resend).
    fn push_parent(&self) -> Context {
        self.route.clone().unwrap_or_else(|| self.span.clone())
    }
}

/// Pushes `device`'s entry `seq` once the ack timeout after `sent` is over (at once, when it
/// is over already), if still unacked.
fn push_at_timeout(
    state: &DmState,
    device: &Device,
    seq: u64,
    sent: Instant,
    parent: Context,
    delivery: PendingDelivery,
) {
    let (task_state, device) = (state.clone(), device.device_id.clone());
    let due = sent + state.config().ack_timeout;
    state.tasks().spawn(async move {
        tokio::time::sleep_until(due.into()).await;
        push_fallback(&task_state, device, seq, parent, delivery).await;
    });
}

/// Frames counted against [`MAX_FRAMES_PER_SECOND`], per one-second window.
struct FrameRate {
    window: Instant,
    frames: u32,
}

impl FrameRate {
    fn new() -> Self {
        Self {
            window: Instant::now(),
            frames: 0,
        }
    }

    /// Counts a frame; false once the window holds more than the limit.
    fn allows_another(&mut self) -> bool {
        if self.window.elapsed() >= Duration::from_secs(1) {
            (self.window, self.frames) = (Instant::now(), 0);
        }
        self.frames += 1;
        self.frames <= MAX_FRAMES_PER_SECOND
    }
}

/// A mailbox read in flight.
type MailboxRead<'a> = BoxFuture<'a, Result<Vec<MailboxEntry>, StoreError>>;

/// The result of the read in flight; never, when there is none.
async fn finished(reading: &mut Option<MailboxRead<'_>>) -> Result<Vec<MailboxEntry>, StoreError> {
    match reading {
        Some(read) => read.await,
        None => std::future::pending().await,
    }
}

/// The answer of the next send to finish; never, while none is under way.
async fn answered(sends: &mut Sends) -> Result<Box<ServerFrame>, tokio::task::JoinError> {
    match sends.as_mut() {
        Some(sends) if !sends.is_empty() => match sends.next().await {
            Some(answer) => answer,
            None => std::future::pending().await,
        },
        _ => std::future::pending().await,
    }
}

/// The `send_failed` frame of a refused send: what `POST /v1/messages` would have answered.
fn send_failed(id: u64, err: &crate::ApiError) -> ServerFrame {
    let (status, error) = err.status_and_body();
    ServerFrame::SendFailed {
        id,
        status: status.as_u16(),
        error,
        retry_after_s: match err {
            crate::ApiError::RateLimited { retry_after_s } => Some(*retry_after_s),
            _ => None,
        },
    }
}

/// Sleeps until `due`, or forever when nothing is due.
async fn sleep_until_due(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due.into()).await,
        None => std::future::pending().await,
    }
}

/// Ends a delivery's `messaging.deliver_websocket`, and at an ack its `messaging.deliver`.
fn finish(state: &DmState, flight: InFlight, acked: bool) {
    let span = flight.span.span();
    span.set_attribute(KeyValue::new("websocket.ack_received", acked));
    if acked {
        span.set_attribute(KeyValue::new(
            "websocket.delivery_ms",
            flight.sent.elapsed().as_secs_f64() * 1e3,
        ));
        if flight.message {
            state.metrics().delivery_method.add(1, &method("websocket"));
        }
    }
    span.end();
    if acked && let Some(delivery) = flight.delivery {
        delivery.delivered("websocket");
    }
}

fn classify(err: &axum::Error) -> End {
    let text = err.to_string();
    if text.contains("too long") || text.contains("Space limit") || text.contains("capacity") {
        End::Close(WS_CLOSE_TOO_BIG, "frame too big")
    } else {
        End::Closed
    }
}

//! The client: its state and the calls the application and the driver make.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

use super::event::{ClientError, Event, LinkError, Outcome, RejectReason, Rejected, SizeLimit};
use super::message::{Message, Received};
use super::options::Options;
use super::outbox::{Gone, MessageId, Outbox, Queued, Refusal};
use super::packet_ids::PacketIds;
use crate::mqtt::packet::PacketError;
use crate::mqtt::packet::connect::{Connect, Disconnect, PINGREQ, Secret, Will};
use crate::mqtt::packet::publish::{Ack, AckKind, Publish, QoS, Version};
use crate::mqtt::packet::subscribe::{RetainHandling, Subscribe, Subscription, Unsubscribe};
use crate::mqtt::packet::wire::WireError;
use crate::mqtt::reason::ReasonCode;
use crate::mqtt::topic::{self, TopicError};

/// Output held before the client stops moving queued messages into it: the driver drains it
/// between calls, so this only bounds a burst.
const OUTPUT_HIGH_WATER: usize = 4 * 1024;

/// Counters since the client was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// CONNECTs sent.
    pub connects: u64,
    /// Messages accepted by `publish`.
    pub published: u64,
    /// PUBLISH packets sent, redeliveries included.
    pub publishes_sent: u64,
    /// PUBLISH packets resent with DUP after a reconnect.
    pub redelivered: u64,
    /// Messages received and handed to the application.
    pub received: u64,
    /// QoS 2 messages received again before release, not handed on twice.
    pub duplicates: u64,
    /// Messages that expired in the queue.
    pub expired: u64,
    /// Messages dropped from a full queue.
    pub dropped: u64,
    /// Events dropped because the application never reads them (one that calls
    /// [`Client::poll_event`] loses none: see [`Options::max_events`]).
    ///
    /// [`Options::max_events`]: super::Options::max_events
    pub events_dropped: u64,
    /// Acknowledgements for packet ids that were not in flight.
    pub unknown_acks: u64,
    /// MQTT 5: QoS 2 messages taken while the broker already had [`Options::receive_maximum`]
    /// awaiting release (a broker that ignores the limit, as mosquitto 2.0.11 does). They are
    /// received as any other: the set of messages awaiting release is bounded by the 65,535
    /// packet identifiers, 128 KiB at most, not by a disconnect.
    ///
    /// [`Options::receive_maximum`]: super::Options::receive_maximum
    pub receive_maximum_exceeded: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// No connection (never connected, or lost).
    Idle,
    /// CONNECT sent, waiting for CONNACK.
    Connecting,
    /// Connected.
    Connected,
    /// Closed by `disconnect`: nothing more is sent.
    Closed,
}

/// Where an outgoing QoS 1 or 2 message is in its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// QoS 1, waiting for PUBACK.
    Ack,
    /// QoS 2, waiting for PUBREC.
    Rec,
    /// QoS 2, PUBREL sent, waiting for PUBCOMP.
    Comp,
}

pub(super) struct InFlight {
    pub pid: u16,
    pub stage: Stage,
    pub queued: Queued,
}

/// A subscription the session holds, made again when the broker loses the session.
pub(super) struct Sub {
    pub filter: String,
    pub qos: QoS,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub retain_handling: RetainHandling,
    /// Acknowledged by the broker in the current session.
    pub confirmed: bool,
}

pub(super) struct PendingSub {
    pub pid: u16,
    pub filters: Vec<String>,
    /// Part of the resubscription after a lost session.
    pub resubscribe: bool,
}

/// What the broker announced in CONNACK.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub receive_maximum: u16,
    pub maximum_qos: QoS,
    pub retain_available: bool,
    pub maximum_packet_size: u32,
    pub keep_alive: u16,
}

/// The sans-IO MQTT client (see the [module documentation](super)).
pub struct Client {
    pub(super) opts: Options,
    pub(super) state: State,
    pub(super) now: u64,
    pub(super) assigned_id: Option<String>,
    pub(super) ever_connected: bool,
    pub(super) sent_clean_start: bool,
    pub(super) out: Vec<u8>,
    pub(super) inbuf: Vec<u8>,
    pub(super) outbox: Outbox,
    pub(super) inflight: VecDeque<InFlight>,
    pub(super) next_message: u64,
    pub(super) next_pid: u16,
    pub(super) incoming_qos2: PacketIds,
    /// The application has read an event ([`Client::poll_event`]): events are then never
    /// dropped, the connection's input waits instead.
    events_read: bool,
    /// Why the last connection ended or attempt failed (cleared by a CONNACK).
    pub(super) last_error: Option<ClientError>,
    pub(super) subs: Vec<Sub>,
    /// The broker's latest answer per filter.
    pub(super) answers: Vec<(String, Result<QoS, ReasonCode>)>,
    pub(super) pending_subs: Vec<PendingSub>,
    pub(super) pending_unsubs: Vec<(u16, Vec<String>)>,
    pub(super) unsubscribe_later: Vec<String>,
    pub(super) resubscribing: usize,
    pub(super) events: VecDeque<Event>,
    /// Messages whose outcome the application waits for, and the outcome once known.
    pub(super) watched: Vec<(MessageId, Option<Outcome>)>,
    pub(super) received: VecDeque<Received>,
    pub(super) aliases: Vec<Option<String>>,
    pub(super) limits: Limits,
    pub(super) last_sent: u64,
    pub(super) last_received: u64,
    pub(super) ping_sent: Option<u64>,
    pub(super) connect_sent: u64,
    pub(super) stats: Stats,
}

impl core::fmt::Debug for Client {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id())
            .field("state", &self.state)
            .field("queued", &self.outbox.len())
            .field("in_flight", &self.inflight.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Encodes a packet at the end of `out`, growing it until the packet fits.
pub(super) fn put(
    out: &mut Vec<u8>,
    hint: usize,
    encode: impl Fn(&mut [u8]) -> Result<usize, PacketError>,
) -> Result<usize, PacketError> {
    let start = out.len();
    let mut size = hint.max(16);
    loop {
        // Exact growth: the buffer stays near the output high-water mark instead of doubling.
        out.reserve_exact(size);
        out.resize(start + size, 0);
        match encode(&mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                return Ok(n);
            }
            Err(PacketError::Wire(WireError::BufferFull)) if size < (1 << 28) => size *= 2,
            Err(e) => {
                out.truncate(start);
                return Err(e);
            }
        }
    }
}

impl Client {
    /// A client that is not connected yet; messages published now wait in the offline queue.
    pub fn new(opts: Options) -> Self {
        let outbox = Outbox::new(opts.queue);
        Client {
            outbox,
            state: State::Idle,
            now: 0,
            assigned_id: None,
            ever_connected: false,
            sent_clean_start: false,
            out: Vec::new(),
            inbuf: Vec::new(),
            inflight: VecDeque::new(),
            next_message: 0,
            next_pid: 0,
            incoming_qos2: PacketIds::default(),
            events_read: false,
            last_error: None,
            subs: Vec::new(),
            answers: Vec::new(),
            pending_subs: Vec::new(),
            pending_unsubs: Vec::new(),
            unsubscribe_later: Vec::new(),
            resubscribing: 0,
            events: VecDeque::new(),
            watched: Vec::new(),
            received: VecDeque::new(),
            aliases: Vec::new(),
            limits: Limits::default_for(&opts),
            last_sent: 0,
            last_received: 0,
            ping_sent: None,
            connect_sent: 0,
            stats: Stats::default(),
            opts,
        }
    }

    /// The options the client was made with.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// True between CONNACK and the end of the connection.
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// True between [`Client::connect`] and CONNACK.
    pub fn is_connecting(&self) -> bool {
        self.state == State::Connecting
    }

    /// True after [`Client::disconnect`].
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Nothing waits to be sent or acknowledged: the queue and the in-flight window are empty.
    pub fn is_idle(&self) -> bool {
        self.outbox.is_empty() && self.inflight.is_empty() && self.out.is_empty()
    }

    /// Messages waiting in the offline queue.
    pub fn queued(&self) -> usize {
        self.outbox.len()
    }

    /// QoS 1 and 2 messages sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The client identifier in use (the one the broker assigned, if it did).
    pub fn client_id(&self) -> &str {
        self.assigned_id.as_deref().unwrap_or(&self.opts.client_id)
    }

    /// True while the application holds fewer received messages than
    /// [`Options::max_received`]: a driver reads the connection only then.
    pub fn wants_input(&self) -> bool {
        self.received.len() < self.opts.max_received
            && !(self.events_read && self.events.len() >= self.opts.max_events)
    }

    /// Starts a connection on a new, open byte stream: writes CONNECT. Output left from an
    /// earlier connection is discarded (it was for a stream that is gone).
    pub fn connect(&mut self, now: u64) {
        if self.state == State::Closed {
            return;
        }
        self.now = now;
        self.state = State::Connecting;
        self.out.clear();
        self.inbuf.clear();
        self.aliases.clear();
        self.aliases.resize(usize::from(self.opts.topic_alias_maximum), None);
        self.limits = Limits::default_for(&self.opts);
        self.ping_sent = None;
        self.connect_sent = now;
        self.last_received = now;
        self.stats.connects += 1;
        let v5 = self.opts.version == Version::V5;
        let clean =
            if v5 { !self.ever_connected && self.opts.clean_start } else { self.opts.session_expiry == 0 };
        self.sent_clean_start = clean;
        let o = &self.opts;
        let mut c = Connect::new(self.assigned_id.as_deref().unwrap_or(&o.client_id), o.keep_alive);
        c.clean_start = clean;
        c.username = o.username.as_deref();
        c.password = o.password.as_ref().map(|p| Secret(p.expose()));
        c.session_expiry = (o.session_expiry > 0).then_some(o.session_expiry);
        c.receive_maximum = (o.receive_maximum != u16::MAX).then_some(o.receive_maximum);
        c.maximum_packet_size = Some(o.maximum_packet_size);
        c.topic_alias_maximum = (o.topic_alias_maximum > 0).then_some(o.topic_alias_maximum);
        c.will = o.will.as_ref().map(|w| Will {
            topic: &w.topic,
            payload: &w.payload,
            qos: w.qos,
            retain: w.retain,
            delay: o.will_delay,
            message_expiry: w.properties().message_expiry,
            content_type: w.properties().content_type.as_deref(),
        });
        let hint = 64 + c.client_id.len() + o.will.as_ref().map_or(0, |w| w.weight());
        let version = o.version;
        // Options are validated by encoding: a will with a bad topic fails here, every time.
        if let Err(e) = put(&mut self.out, hint, |b| c.encode(version, b)) {
            self.state = State::Idle;
            self.push_event(Event::Disconnected { error: Some(ClientError::Packet(e)) });
            return;
        }
        self.last_sent = now;
    }

    /// Feeds bytes received from the broker. On an error the connection is finished: the
    /// output holds the DISCONNECT to send (MQTT 5), after which the driver closes the stream.
    pub fn handle_input(&mut self, bytes: &[u8], now: u64) -> Result<(), ClientError> {
        self.now = now;
        if !matches!(self.state, State::Connecting | State::Connected) {
            return Ok(());
        }
        self.inbuf.extend_from_slice(bytes);
        let buf = core::mem::take(&mut self.inbuf);
        let mut pos = 0;
        let result = loop {
            match self.next_packet(&buf[pos..]) {
                Ok(Some(used)) => pos += used,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
            if !matches!(self.state, State::Connecting | State::Connected) {
                break Ok(());
            }
        };
        self.inbuf = buf;
        self.inbuf.drain(..pos);
        match result {
            Ok(()) => {
                self.pump();
                Ok(())
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Moves the bytes to send into `into` (swapping buffers when `into` is empty).
    pub fn take_output(&mut self, into: &mut Vec<u8>) {
        self.pump();
        if into.is_empty() {
            core::mem::swap(&mut self.out, into);
        } else {
            into.append(&mut self.out);
        }
    }

    /// The bytes waiting to be sent.
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    /// Runs the timers: keep alive (PINGREQ, dead connection), the CONNACK timeout and queue
    /// expiry. On an error the connection is finished, as with [`Client::handle_input`].
    pub fn handle_timeout(&mut self, now: u64) -> Result<(), ClientError> {
        self.now = now;
        self.expire();
        match self.state {
            State::Connecting if now >= self.connect_sent + u64::from(self.opts.connect_timeout_ms) => {
                Err(self.fail(ClientError::ConnectTimeout))
            }
            State::Connected if self.limits.keep_alive > 0 => {
                let ka = u64::from(self.limits.keep_alive) * 1000;
                match self.ping_sent {
                    Some(t) if now >= t + ka => Err(self.fail(ClientError::KeepAliveTimeout)),
                    Some(_) => Ok(()),
                    None if now >= self.last_sent.min(self.last_received) + ka => {
                        self.out.extend_from_slice(&PINGREQ);
                        self.last_sent = now;
                        self.ping_sent = Some(now);
                        Ok(())
                    }
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// When [`Client::handle_timeout`] should run next.
    pub fn next_timeout(&self) -> Option<u64> {
        match self.state {
            State::Connecting => Some(self.connect_sent + u64::from(self.opts.connect_timeout_ms)),
            State::Connected if self.limits.keep_alive > 0 => {
                let ka = u64::from(self.limits.keep_alive) * 1000;
                Some(match self.ping_sent {
                    Some(t) => t + ka,
                    None => self.last_sent.min(self.last_received) + ka,
                })
            }
            _ => None,
        }
    }

    /// The byte stream failed or closed, cause unknown (see [`Client::link_failed`]). The
    /// session stays for the next [`Client::connect`].
    pub fn connection_lost(&mut self, now: u64) {
        self.disconnected_by(now, ClientError::ConnectionLost);
    }

    /// The byte stream failed or closed, and how: reported in [`Event::Disconnected`]. A close
    /// before CONNACK is reported as [`LinkError::ClosedBeforeConnack`]. The session stays for
    /// the next [`Client::connect`].
    pub fn link_failed(&mut self, now: u64, cause: LinkError) {
        let cause = match (cause, self.state) {
            (LinkError::Closed | LinkError::Reset, State::Connecting) => LinkError::ClosedBeforeConnack,
            (cause, _) => cause,
        };
        self.disconnected_by(now, ClientError::Link(cause));
    }

    fn disconnected_by(&mut self, now: u64, error: ClientError) {
        self.now = now;
        if matches!(self.state, State::Connecting | State::Connected) {
            self.reset_connection();
            self.note_error(error);
        }
    }

    /// A byte stream to the broker could not be opened (a driver's connect attempt failed),
    /// and why: reported as [`Event::Disconnected`] with [`ClientError::Link`].
    pub fn open_failed(&mut self, now: u64, cause: LinkError) {
        self.now = now;
        if self.state != State::Closed {
            self.note_error(ClientError::Link(cause));
        }
    }

    /// Why the last connection ended or the last attempt failed, until a CONNACK accepts the
    /// next one: what a program waiting to be connected is told (see
    /// [`ClientError::is_permanent`]).
    pub fn last_error(&self) -> Option<ClientError> {
        self.last_error
    }

    fn note_error(&mut self, error: ClientError) {
        self.last_error = Some(error);
        self.push_event(Event::Disconnected { error: Some(error) });
    }

    /// The broker's latest answer for `filter`: the QoS granted or why it refused;
    /// `None` while it has not answered since the last [`Client::subscribe`] of that filter.
    pub fn subscription(&self, filter: &str) -> Option<Result<QoS, ReasonCode>> {
        self.answers.iter().find(|(f, _)| f == filter).map(|(_, r)| *r)
    }

    /// Ends the session politely: writes DISCONNECT (the broker then discards the will) and
    /// closes the client. A driver first waits for [`Client::is_idle`] to flush QoS 1 and 2.
    pub fn disconnect(&mut self, now: u64) {
        self.now = now;
        if self.state == State::Connected {
            let d = Disconnect::default();
            let v = self.opts.version;
            // A reason 0 DISCONNECT with no properties always fits.
            let _ = put(&mut self.out, 8, |b| d.encode(v, b));
        }
        if self.state != State::Closed {
            self.reset_connection();
            self.state = State::Closed;
            self.push_event(Event::Disconnected { error: None });
        }
    }

    /// Queues a message; it goes out as soon as the connection and the in-flight window
    /// allow. A message the client cannot take comes back in the error.
    // The refused message comes back by value: no allocation on the refusal path.
    #[allow(clippy::result_large_err)]
    pub fn publish(&mut self, message: Message, now: u64) -> Result<MessageId, Rejected> {
        self.now = now;
        if self.state == State::Closed {
            return Err(Rejected { message, reason: RejectReason::Closed });
        }
        if let Err(e) = topic::validate_name(&message.topic) {
            return Err(Rejected { message, reason: RejectReason::InvalidTopic(e) });
        }
        // What can never fit is refused now, not after waiting for room that cannot come.
        let queue_max = self.opts.queue.max_bytes;
        // The PUBLISH is at least its fixed header (2), the topic's length (2) and the bytes.
        let packet_at_least = 4 + message.weight();
        let packet_max = self.limits.maximum_packet_size as usize;
        let too_large = match () {
            _ if message.weight() > queue_max => Some((message.weight(), SizeLimit::Queue, queue_max)),
            _ if packet_at_least > packet_max => Some((packet_at_least, SizeLimit::Packet, packet_max)),
            _ => None,
        };
        if let Some((size, limit, max)) = too_large {
            return Err(Rejected { message, reason: RejectReason::TooLarge { size, limit, max } });
        }
        let id = MessageId(self.next_message);
        let (events, stats, watched) = (&mut self.events, &mut self.stats, &mut self.watched);
        let mut gone = |old, why| {
            let e = match why {
                Gone::Expired => {
                    stats.expired += 1;
                    Event::Expired(old)
                }
                Gone::Dropped => {
                    stats.dropped += 1;
                    Event::Dropped(old)
                }
            };
            note(watched, &e);
            events.push_back(e);
        };
        match self.outbox.push(id, message, now, &mut gone) {
            Ok(()) => {
                self.next_message += 1;
                self.stats.published += 1;
                self.trim_events(0);
                self.pump();
                Ok(id)
            }
            Err(Refusal::Full(message)) => Err(Rejected { message, reason: RejectReason::QueueFull }),
        }
    }

    /// Subscribes to `filter` at `qos` (see [`Client::subscribe_with`] for the options).
    pub fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<(), TopicError> {
        self.subscribe_with(Subscription::new(filter, qos))
    }

    /// Subscribes: sent now when connected, otherwise on connect. The session keeps the
    /// subscription and makes it again if the broker loses the session.
    pub fn subscribe_with(&mut self, s: Subscription<'_>) -> Result<(), TopicError> {
        topic::validate_filter(s.filter)?;
        self.answers.retain(|(f, _)| f != s.filter);
        self.subs.retain(|old| old.filter != s.filter);
        self.unsubscribe_later.retain(|f| f != s.filter);
        self.subs.push(Sub {
            filter: String::from(s.filter),
            qos: s.qos,
            no_local: s.no_local,
            retain_as_published: s.retain_as_published,
            retain_handling: s.retain_handling,
            confirmed: false,
        });
        if self.state == State::Connected {
            self.send_subscriptions(false);
        }
        Ok(())
    }

    /// Unsubscribes from `filter` (now, or on the next connect).
    pub fn unsubscribe(&mut self, filter: &str) {
        let before = self.subs.len();
        self.subs.retain(|s| s.filter != filter);
        self.answers.retain(|(f, _)| f != filter);
        if self.subs.len() == before {
            return;
        }
        if self.state == State::Connected {
            self.send_unsubscribe(alloc::vec![String::from(filter)]);
        } else {
            self.unsubscribe_later.push(String::from(filter));
        }
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events_read = true;
        self.events.pop_front()
    }

    /// The next message received, oldest first.
    pub fn poll_message(&mut self) -> Option<Received> {
        self.received.pop_front()
    }

    /// Remembers what becomes of QoS 1 or 2 message `id` (delivered, refused, expired or
    /// dropped) until [`Client::outcome`] takes it, whatever happens to the event queue.
    pub fn watch(&mut self, id: MessageId) {
        self.watched.push((id, None));
    }

    /// The outcome of a watched message once it is known (then no longer watched); `None`
    /// while it is queued or in flight, or when it is not watched.
    pub fn outcome(&mut self, id: MessageId) -> Option<Outcome> {
        let at = self.watched.iter().position(|(w, o)| *w == id && o.is_some())?;
        self.watched.swap_remove(at).1
    }

    /// Stops watching `id` (a waiter gave up).
    pub fn unwatch(&mut self, id: MessageId) {
        self.watched.retain(|(w, _)| *w != id);
    }

    // ----- internals shared with the inbound side -----

    pub(super) fn push_event(&mut self, e: Event) {
        note(&mut self.watched, &e);
        // Make room first, so the queue never grows past its bound.
        self.trim_events(1);
        self.events.push_back(e);
    }

    /// Drops the oldest events until `room` more fit under [`Options::max_events`], unless
    /// the application reads events: then none is dropped ([`Client::wants_input`] stops the
    /// reading of the connection instead, so the queue exceeds the bound by at most what one
    /// read of input produces).
    fn trim_events(&mut self, room: usize) {
        if self.events_read {
            return;
        }
        while !self.events.is_empty() && self.events.len() + room > self.opts.max_events {
            self.events.pop_front();
            self.stats.events_dropped += 1;
        }
    }

    /// Ends the connection after an error: DISCONNECT with the error's reason (MQTT 5, when
    /// connected), the session kept.
    /// What is already in the output stays ahead of it: whole packets only, among them the
    /// acknowledgements of what was received before the error (dropping them would make the
    /// broker send those messages again on every connection).
    pub(super) fn fail(&mut self, e: ClientError) -> ClientError {
        if self.state == State::Connected
            && self.opts.version == Version::V5
            && let Some(reason) = e.disconnect_reason()
        {
            let d = Disconnect { reason: reason.0, ..Disconnect::default() };
            let _ = put(&mut self.out, 8, |b| d.encode(Version::V5, b));
        }
        self.reset_connection();
        self.note_error(e);
        e
    }

    fn reset_connection(&mut self) {
        self.state = State::Idle;
        self.ping_sent = None;
        self.inbuf.clear();
        self.resubscribing = 0;
        self.pending_subs.clear();
        for (_, filters) in self.pending_unsubs.drain(..) {
            self.unsubscribe_later.extend(filters);
        }
    }

    /// Drops the queued messages whose expiry has passed at `now` ([`Event::Expired`] for
    /// each), so that [`Client::queued`] counts only what may still be sent. The timers run
    /// it too ([`Client::handle_timeout`]); a driver with no connection calls it directly.
    pub fn expire_queued(&mut self, now: u64) {
        self.now = now;
        self.expire();
    }

    pub(super) fn expire(&mut self) {
        let (events, stats, watched) = (&mut self.events, &mut self.stats, &mut self.watched);
        self.outbox.expire(self.now, &mut |id| {
            stats.expired += 1;
            note(watched, &Event::Expired(id));
            events.push_back(Event::Expired(id));
        });
        self.trim_events(0);
    }

    /// A packet identifier not in use by an outgoing message or a pending (un)subscription.
    pub(super) fn allocate_pid(&mut self) -> u16 {
        loop {
            self.next_pid = self.next_pid.wrapping_add(1).max(1);
            let pid = self.next_pid;
            let busy = self.inflight.iter().any(|f| f.pid == pid)
                || self.pending_subs.iter().any(|p| p.pid == pid)
                || self.pending_unsubs.iter().any(|p| p.0 == pid);
            if !busy {
                return pid;
            }
        }
    }

    /// Packet identifiers in use; a new QoS 1 or 2 message waits when none is left.
    fn pids_in_use(&self) -> usize {
        self.inflight.len() + self.pending_subs.len() + self.pending_unsubs.len()
    }

    /// Sends every subscription the broker has not confirmed (and is not confirming now).
    pub(super) fn send_subscriptions(&mut self, resubscribe: bool) {
        let pending = |f: &String| self.pending_subs.iter().any(|p| p.filters.contains(f));
        let wanted: Vec<usize> = (0..self.subs.len())
            .filter(|&i| !self.subs[i].confirmed && !pending(&self.subs[i].filter))
            .collect();
        if wanted.is_empty() {
            return;
        }
        let pid = self.allocate_pid();
        let list: Vec<Subscription<'_>> = wanted
            .iter()
            .map(|&i| {
                let s = &self.subs[i];
                Subscription {
                    filter: &s.filter,
                    qos: s.qos,
                    no_local: s.no_local,
                    retain_as_published: s.retain_as_published,
                    retain_handling: s.retain_handling,
                }
            })
            .collect();
        let filters: Vec<String> = list.iter().map(|s| String::from(s.filter)).collect();
        let packet = Subscribe { packet_id: pid, subscription_id: None, filters: &list };
        let hint = 16 + filters.iter().map(|f| f.len() + 3).sum::<usize>();
        let v = self.opts.version;
        let written = put(&mut self.out, hint, |b| packet.encode(v, b)).is_ok();
        drop(list);
        if written {
            self.last_sent = self.now;
            if resubscribe {
                self.resubscribing += filters.len();
            }
            self.pending_subs.push(PendingSub { pid, filters, resubscribe });
        } else {
            // Filters were validated when added; only a packet over every limit gets here.
            let results = filters.iter().map(|_| Err(ReasonCode::PACKET_TOO_LARGE)).collect();
            self.push_event(Event::Subscribed { filters, results });
        }
    }

    pub(super) fn send_unsubscribe(&mut self, filters: Vec<String>) {
        let pid = self.allocate_pid();
        let refs: Vec<&str> = filters.iter().map(String::as_str).collect();
        let packet = Unsubscribe { packet_id: pid, filters: &refs };
        let hint = 16 + filters.iter().map(|f| f.len() + 2).sum::<usize>();
        let v = self.opts.version;
        if put(&mut self.out, hint, |b| packet.encode(v, b)).is_ok() {
            self.last_sent = self.now;
            drop(refs);
            self.pending_unsubs.push((pid, filters));
        }
    }

    /// Writes an acknowledgement of the publish flow.
    pub(super) fn send_ack(&mut self, kind: AckKind, pid: u16, reason: u8) {
        let ack = Ack { kind, packet_id: pid, reason, reason_string: None };
        let v = self.opts.version;
        // An acknowledgement with a valid id always encodes.
        let _ = put(&mut self.out, 8, |b| ack.encode(v, b));
        self.last_sent = self.now;
    }

    /// Writes the PUBLISH of an in-flight or queued message.
    pub(super) fn write_publish(
        &mut self,
        q: &Queued,
        pid: Option<u16>,
        dup: bool,
    ) -> Result<(), PacketError> {
        let m = &q.message;
        let pairs: Vec<(&str, &str)> =
            m.properties().user.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let p = Publish {
            dup,
            qos: m.qos,
            retain: m.retain,
            topic: &m.topic,
            packet_id: pid,
            properties: m.properties().borrowed(&pairs, q.expiry_left(self.now)),
            payload: &m.payload,
        };
        let v = self.opts.version;
        let start = self.out.len();
        let n = put(&mut self.out, 16 + m.weight(), |b| p.encode(v, b))?;
        if n as u64 > u64::from(self.limits.maximum_packet_size) {
            self.out.truncate(start);
            return Err(WireError::TooLarge { size: n as u32, max: self.limits.maximum_packet_size }.into());
        }
        self.last_sent = self.now;
        self.stats.publishes_sent += 1;
        Ok(())
    }

    /// Moves queued messages into the output while the connection, the broker's Receive
    /// Maximum and the output high-water mark allow.
    pub(super) fn pump(&mut self) {
        if self.state != State::Connected {
            return;
        }
        // Expiry is checked as each message leaves the queue, not by a scan of the whole queue
        // on every call (`handle_timeout` and a full queue do the scans).
        while self.out.len() < OUTPUT_HIGH_WATER {
            let Some(front) = self.outbox.front() else { break };
            let qos = front.message.qos;
            if qos != QoS::AtMostOnce
                && (self.inflight.len()
                    >= usize::from(self.limits.receive_maximum.min(self.opts.max_in_flight.max(1)))
                    || self.pids_in_use() >= usize::from(u16::MAX))
            {
                break;
            }
            let Some(q) = self.outbox.pop_front() else { break };
            if q.expired(self.now) {
                self.stats.expired += 1;
                self.push_event(Event::Expired(q.id));
                continue;
            }
            if qos > self.limits.maximum_qos {
                self.push_event(Event::Failed { id: q.id, reason: ReasonCode::QOS_NOT_SUPPORTED });
                continue;
            }
            if q.message.retain && !self.limits.retain_available {
                let reason = ReasonCode::RETAIN_NOT_SUPPORTED;
                self.push_event(Event::Failed { id: q.id, reason });
                continue;
            }
            let pid = (qos != QoS::AtMostOnce).then(|| self.allocate_pid());
            match self.write_publish(&q, pid, false) {
                Ok(()) => {
                    if let Some(pid) = pid {
                        let stage = if qos == QoS::AtLeastOnce { Stage::Ack } else { Stage::Rec };
                        self.inflight.push_back(InFlight { pid, stage, queued: q });
                    }
                }
                Err(e) => {
                    let reason = match e {
                        PacketError::Wire(WireError::TooLarge { .. }) => ReasonCode::PACKET_TOO_LARGE,
                        _ => ReasonCode::TOPIC_NAME_INVALID,
                    };
                    self.push_event(Event::Failed { id: q.id, reason });
                }
            }
        }
    }
}

impl Limits {
    fn default_for(opts: &Options) -> Self {
        Limits {
            receive_maximum: u16::MAX,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            maximum_packet_size: crate::mqtt::packet::wire::MAX_VAR_INT + 5,
            keep_alive: opts.keep_alive,
        }
    }
}

/// Records the outcome an event gives a watched message.
fn note(watched: &mut [(MessageId, Option<Outcome>)], e: &Event) {
    let (id, outcome) = match *e {
        Event::Delivered(id) => (id, Outcome::Delivered),
        Event::Failed { id, reason } => (id, Outcome::Failed(reason)),
        Event::Expired(id) => (id, Outcome::Expired),
        Event::Dropped(id) => (id, Outcome::Dropped),
        _ => return,
    };
    if let Some(w) = watched.iter_mut().find(|(w, _)| *w == id) {
        w.1 = Some(outcome);
    }
}

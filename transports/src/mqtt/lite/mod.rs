//! A small sans-IO MQTT 3.1.1 / 5 client for microcontrollers: no allocator, fixed buffers,
//! a few kilobytes of flash.
//!
//! It speaks the same protocol as [`Client`](super::Client) (QoS 0, 1 and 2 both ways, keep
//! alive, session resumption with redelivery) over the same packet codecs, and leaves out what
//! a node does not need: the offline queue with expiry, tracked outcomes, automatic
//! resubscription, topic aliases. What it holds is sized by the caller:
//!
//! - `N` QoS 1 and 2 messages in flight, each kept encoded (at most `M` bytes) until the broker
//!   acknowledges it, to be sent again after a reconnect;
//! - one incoming packet of at most `M` bytes (announced to an MQTT 5 broker as the Maximum
//!   Packet Size), and `M` bytes of output between two drains.
//!
//! The caller moves the bytes: it hands received bytes to [`LiteClient::handle_input`], writes
//! [`LiteClient::output`] to the connection and then calls [`LiteClient::clear_output`], and
//! calls [`LiteClient::handle_timeout`] when [`LiteClient::next_timeout`] is due. Events (a
//! message, a delivery, a subscription's answer) go to a closure during those calls; a
//! message's topic and payload borrow the client's input buffer, no copy.
//!
//! ```
//! use telemetra_transports::mqtt::lite::{LiteClient, LiteEvent, LiteOptions};
//! use telemetra_transports::mqtt::QoS;
//!
//! let mut client = LiteClient::<4, 256>::new();
//! client.connect(&LiteOptions::new("node-2a"), 0).unwrap();
//! assert_eq!(client.output()[0], 0x10); // CONNECT, to be written to the connection
//! client.clear_output();
//! // The broker's CONNACK (session not present, success), as read from the connection:
//! let mut connected = false;
//! client.handle_input(&[0x20, 0x03, 0x00, 0x00, 0x00], &mut |e| {
//!     connected |= matches!(e, LiteEvent::Connected { .. });
//! }).unwrap();
//! assert!(connected);
//! let pid = client.publish("tm/v1/2a/readings", b"\x01\x02", QoS::AtLeastOnce, false, 10).unwrap();
//! assert_eq!(pid, Some(1));
//! ```

mod error;
#[cfg(test)]
mod tests;

pub use error::LiteError;

use telemetra_core::heapless;

use super::client::ClientError;
use super::packet::PacketError;
use super::packet::connect::{Connack, Connect, Disconnect, PINGREQ, Secret, Will};
use super::packet::publish::{Ack, AckKind, Publish, QoS, Version};
use super::packet::subscribe::{SubAck, Subscribe, Subscription};
use super::packet::wire::{FixedHeader, PacketType, WireError};
use super::reason::ReasonCode;

/// What a connection is opened with. Kept by the caller and passed to each
/// [`connect`](LiteClient::connect).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiteOptions<'a> {
    /// The client identifier (unique per device).
    pub client_id: &'a str,
    /// MQTT 5 (the default) or 3.1.1.
    pub version: Version,
    /// Keep alive in seconds (0: off).
    pub keep_alive: u16,
    /// How long the broker keeps the session after a disconnection, in seconds (MQTT 5; in
    /// 3.1.1 any value but 0 keeps it: clean session 0). The session is resumed on reconnect.
    pub session_expiry: u32,
    /// Start a new session on the first connection instead of resuming one.
    pub clean_start: bool,
    /// User name.
    pub username: Option<&'a str>,
    /// Password.
    pub password: Option<&'a [u8]>,
    /// The last will: topic, payload, QoS, retained.
    pub will: Option<(&'a str, &'a [u8], QoS, bool)>,
}

impl<'a> LiteOptions<'a> {
    /// MQTT 5, keep alive 30 s, a session kept for an hour, no credentials, no will.
    pub fn new(client_id: &'a str) -> Self {
        LiteOptions {
            client_id,
            version: Version::V5,
            keep_alive: 30,
            session_expiry: 3600,
            clean_start: false,
            username: None,
            password: None,
            will: None,
        }
    }
}

/// Something that happened, reported during a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteEvent<'a> {
    /// The broker accepted the connection; with `session_present` false, subscriptions must be
    /// made again.
    Connected {
        /// The broker resumed the session.
        session_present: bool,
    },
    /// A message arrived (a QoS 2 message once, however often the broker sends it).
    Message {
        /// Its topic.
        topic: &'a str,
        /// Its payload.
        payload: &'a [u8],
        /// The QoS it was delivered at.
        qos: QoS,
        /// It was retained.
        retain: bool,
    },
    /// A QoS 1 or 2 message was acknowledged (PUBACK or PUBCOMP).
    Delivered {
        /// The packet identifier [`publish`](LiteClient::publish) returned.
        packet_id: u16,
    },
    /// The broker refused a QoS 1 or 2 message (MQTT 5 reason code 0x80 or above).
    Refused {
        /// Its packet identifier.
        packet_id: u16,
        /// Why.
        reason: ReasonCode,
    },
    /// The broker answered a SUBSCRIBE.
    Subscribed {
        /// The packet identifier [`subscribe`](LiteClient::subscribe) returned.
        packet_id: u16,
        /// Per filter: the QoS granted (0, 1, 2) or a failure code (0x80 and above).
        codes: &'a [u8],
    },
}

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Connecting { since: u64 },
    Connected,
}

/// Where an outgoing QoS 1 or 2 message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The slot is free. (First, so that a new client is all zero bits: a firmware's
    /// `static` client then lies in `.bss` and costs no flash.)
    Free,
    /// QoS 1, waiting for PUBACK.
    Ack,
    /// QoS 2, waiting for PUBREC.
    Rec,
    /// QoS 2, PUBREL sent, waiting for PUBCOMP.
    Comp,
}

/// One message in flight; its encoded PUBLISH (for redelivery) is in the slot's store.
#[derive(Debug, Clone, Copy)]
struct Slot {
    pid: u16,
    stage: Stage,
    /// Bytes of the PUBLISH in the store.
    len: usize,
}

/// The most QoS 2 messages received and not yet released (announced to an MQTT 5 broker as
/// Receive Maximum).
const INCOMING_QOS2: usize = 8;

/// How long a CONNACK may take, in milliseconds.
const CONNECT_TIMEOUT_MS: u64 = 10_000;

/// The client. See the [module documentation](self).
#[derive(Debug)]
pub struct LiteClient<const N: usize, const M: usize> {
    session: Session<N, M>,
    input: heapless::Vec<u8, M>,
    /// The fixed header of the packet being read and its length, once it has arrived.
    header: Option<(FixedHeader, usize)>,
}

/// The bytes to send: a fixed buffer, written in place (no zeroing per packet).
#[derive(Debug)]
struct Output<const M: usize> {
    buf: [u8; M],
    len: usize,
}

impl<const M: usize> Output<M> {
    /// Appends `bytes` if they fit.
    fn push(&mut self, bytes: &[u8]) -> bool {
        let Some(room) = self.buf.get_mut(self.len..self.len + bytes.len()) else { return false };
        room.copy_from_slice(bytes);
        self.len += bytes.len();
        true
    }
}

/// Everything but the input buffer, so that a packet is handled while it lies in the buffer.
#[derive(Debug)]
struct Session<const N: usize, const M: usize> {
    state: State,
    /// MQTT 5 (else 3.1.1); a flag rather than a `Version`, whose zero bits are not a value.
    v5: bool,
    keep_alive_ms: u64,
    ever_connected: bool,
    slots: [Slot; N],
    /// Each slot's encoded PUBLISH (its length is the slot's), written in place.
    store: [[u8; M]; N],
    /// In flight at most this many (the broker's Receive Maximum, up to `N`).
    window: usize,
    next_pid: u16,
    incoming_qos2: heapless::Vec<u16, INCOMING_QOS2>,
    /// The broker's Maximum Packet Size.
    max_out: usize,
    out: Output<M>,
    last_sent: u64,
    ping_sent: Option<u64>,
}

impl<const N: usize, const M: usize> Default for LiteClient<N, M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, const M: usize> LiteClient<N, M> {
    /// A client with no connection.
    pub const fn new() -> Self {
        LiteClient { session: Session::new(), input: heapless::Vec::new(), header: None }
    }

    /// Starts a connection (the transport is open): queues CONNECT. The first connection
    /// starts a session if `options.clean_start`; later ones resume it.
    pub fn connect(&mut self, options: &LiteOptions<'_>, now: u64) -> Result<(), LiteError> {
        self.connection_lost();
        self.session.connect(options, now)
    }

    /// The connection is gone (closed, or an error from this client): the session stays, for
    /// the next [`connect`](Self::connect) to resume. Unsent output and a partial packet are
    /// dropped.
    pub fn connection_lost(&mut self) {
        self.session.connection_lost();
        self.input.clear();
        self.header = None;
    }

    /// Connected (CONNACK received).
    pub fn is_connected(&self) -> bool {
        self.session.state == State::Connected
    }

    /// No QoS 1 or 2 message is waiting for its acknowledgement.
    pub fn is_idle(&self) -> bool {
        self.session.slots.iter().all(|s| s.stage == Stage::Free)
    }

    /// Publishes a message. QoS 0 goes out now and gives `None`; QoS 1 and 2 give the packet
    /// identifier their [`LiteEvent::Delivered`] will carry. [`LiteError::Busy`] when the
    /// in-flight window or the output is full: drain the output, handle input, try again.
    pub fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        now: u64,
    ) -> Result<Option<u16>, LiteError> {
        self.session.publish(topic, payload, qos, retain, now)
    }

    /// Subscribes to `filters`; returns the packet identifier [`LiteEvent::Subscribed`] will
    /// carry. Subscriptions are not remembered: make them again on a
    /// [`LiteEvent::Connected`] without a session.
    pub fn subscribe(&mut self, filters: &[Subscription<'_>], now: u64) -> Result<u16, LiteError> {
        self.session.subscribe(filters, now)
    }

    /// Closes the session's connection politely (DISCONNECT); then close the transport.
    pub fn disconnect(&mut self) -> Result<(), LiteError> {
        self.session.disconnect()
    }

    /// The bytes to write to the connection.
    pub fn output(&self) -> &[u8] {
        &self.session.out.buf[..self.session.out.len]
    }

    /// Forgets the output (after writing it).
    pub fn clear_output(&mut self) {
        self.session.out.len = 0;
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due next, if ever.
    pub fn next_timeout(&self) -> Option<u64> {
        self.session.next_timeout()
    }

    /// Runs the timers: a PINGREQ when nothing was sent for a keep alive; an error when the
    /// CONNACK or the PINGRESP did not come in time (the connection is dead: close it,
    /// reconnect).
    pub fn handle_timeout(&mut self, now: u64) -> Result<(), ClientError> {
        let result = self.session.handle_timeout(now);
        if result.is_err() {
            self.connection_lost();
        }
        result
    }

    /// Handles bytes read from the connection, reporting what they caused to `on_event`.
    /// Answers (acknowledgements, PUBREL) go to the output. An error means the connection must
    /// be closed (the session stays; [`connect`](Self::connect) again).
    pub fn handle_input(
        &mut self,
        mut bytes: &[u8],
        on_event: &mut dyn FnMut(LiteEvent<'_>),
    ) -> Result<(), ClientError> {
        while !bytes.is_empty() {
            let taken = match self.read_packet(bytes) {
                Ok(n) => n,
                Err(e) => return Err(self.fail(e)),
            };
            bytes = &bytes[taken..];
            if let Some((header, len)) = self.header
                && self.input.len() == len + header.remaining as usize
            {
                let result = self.session.dispatch(header, &self.input[len..], on_event);
                self.input.clear();
                self.header = None;
                if let Err(e) = result {
                    return Err(self.fail(e));
                }
            }
        }
        Ok(())
    }

    fn fail(&mut self, e: ClientError) -> ClientError {
        self.connection_lost();
        e
    }

    /// Takes bytes of the packet being read, up to its end (never beyond: the next packet's
    /// bytes stay with the caller, and the buffer never moves); returns how many it took.
    fn read_packet(&mut self, bytes: &[u8]) -> Result<usize, ClientError> {
        let Some((header, len)) = self.header else {
            // The fixed header is at most 5 bytes: take them one at a time until it parses.
            self.input.push(bytes[0]).map_err(|_| packet_too_large())?;
            self.header = FixedHeader::parse(&self.input, M as u32).map_err(PacketError::from)?;
            return Ok(1);
        };
        let n = (len + header.remaining as usize - self.input.len()).min(bytes.len());
        self.input.extend_from_slice(&bytes[..n]).map_err(|_| packet_too_large())?;
        Ok(n)
    }
}

impl<const N: usize, const M: usize> Session<N, M> {
    const fn new() -> Self {
        Session {
            state: State::Idle,
            v5: false,
            keep_alive_ms: 0,
            ever_connected: false,
            slots: [Slot { pid: 0, stage: Stage::Free, len: 0 }; N],
            store: [[0; M]; N],
            window: 0,
            next_pid: 0,
            incoming_qos2: heapless::Vec::new(),
            max_out: 0,
            out: Output { buf: [0; M], len: 0 },
            last_sent: 0,
            ping_sent: None,
        }
    }

    fn connect(&mut self, options: &LiteOptions<'_>, now: u64) -> Result<(), LiteError> {
        self.v5 = options.version == Version::V5;
        // Until the broker says otherwise in CONNACK.
        self.window = N;
        self.max_out = M;
        self.keep_alive_ms = u64::from(options.keep_alive) * 1000;
        let v5 = options.version == Version::V5;
        let mut c = Connect::new(options.client_id, options.keep_alive);
        c.clean_start =
            if v5 { !self.ever_connected && options.clean_start } else { options.session_expiry == 0 };
        c.username = options.username;
        c.password = options.password.map(Secret);
        c.will = options.will.map(|(topic, payload, qos, retain)| Will {
            topic,
            payload,
            qos,
            retain,
            delay: None,
            message_expiry: None,
            content_type: None,
        });
        if v5 {
            c.session_expiry = Some(options.session_expiry).filter(|&s| s > 0);
            c.receive_maximum = Some(INCOMING_QOS2 as u16);
            c.maximum_packet_size = Some(M as u32);
        }
        self.write(|out, v| c.encode(v, out))?;
        self.state = State::Connecting { since: now };
        self.last_sent = now;
        Ok(())
    }

    fn connection_lost(&mut self) {
        self.state = State::Idle;
        self.out.len = 0;
        self.ping_sent = None;
    }

    fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        now: u64,
    ) -> Result<Option<u16>, LiteError> {
        if self.state != State::Connected {
            return Err(LiteError::NotConnected);
        }
        let mut p = Publish::new(topic, payload);
        p.qos = qos;
        p.retain = retain;
        if qos == QoS::AtMostOnce {
            self.write(|out, v| p.encode(v, out))?;
            self.last_sent = now;
            return Ok(None);
        }
        let in_flight = self.slots.iter().filter(|s| s.stage != Stage::Free).count();
        let free = self.slots.iter().position(|s| s.stage == Stage::Free).filter(|_| in_flight < self.window);
        let Some(free) = free else { return Err(LiteError::Busy) };
        let pid = self.allocate_pid();
        p.packet_id = Some(pid);
        let len = p.encode(self.version(), &mut self.store[free]).map_err(|e| match e {
            PacketError::Wire(WireError::BufferFull) => LiteError::TooLarge,
            e => LiteError::Packet(e),
        })?;
        if len > self.max_out {
            return Err(LiteError::TooLarge);
        }
        if !self.out.push(&self.store[free][..len]) {
            return Err(LiteError::Busy);
        }
        let stage = if qos == QoS::AtLeastOnce { Stage::Ack } else { Stage::Rec };
        self.slots[free] = Slot { pid, stage, len };
        self.last_sent = now;
        Ok(Some(pid))
    }

    fn subscribe(&mut self, filters: &[Subscription<'_>], now: u64) -> Result<u16, LiteError> {
        if self.state != State::Connected {
            return Err(LiteError::NotConnected);
        }
        let pid = self.allocate_pid();
        let s = Subscribe { packet_id: pid, subscription_id: None, filters };
        self.write(|out, v| s.encode(v, out))?;
        self.last_sent = now;
        Ok(pid)
    }

    fn disconnect(&mut self) -> Result<(), LiteError> {
        if self.state == State::Connected {
            self.write(|out, v| Disconnect::default().encode(v, out))?;
        }
        self.state = State::Idle;
        Ok(())
    }

    fn next_timeout(&self) -> Option<u64> {
        match self.state {
            State::Idle => None,
            State::Connecting { since } => Some(since + CONNECT_TIMEOUT_MS),
            State::Connected if self.keep_alive_ms == 0 => None,
            State::Connected => Some(self.ping_sent.map_or(self.last_sent, |at| at) + self.keep_alive_ms),
        }
    }

    fn handle_timeout(&mut self, now: u64) -> Result<(), ClientError> {
        match self.state {
            State::Connecting { since } if now >= since + CONNECT_TIMEOUT_MS => {
                Err(ClientError::ConnectTimeout)
            }
            State::Connected if self.keep_alive_ms > 0 => match self.ping_sent {
                Some(at) if now >= at + self.keep_alive_ms => Err(ClientError::KeepAliveTimeout),
                None if now >= self.last_sent + self.keep_alive_ms => {
                    if self.out.push(&PINGREQ) {
                        self.ping_sent = Some(now);
                        self.last_sent = now;
                    }
                    Ok(())
                }
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// Handles one whole packet: its fixed header and body.
    fn dispatch(
        &mut self,
        header: FixedHeader,
        body: &[u8],
        on_event: &mut dyn FnMut(LiteEvent<'_>),
    ) -> Result<(), ClientError> {
        match header.kind {
            PacketType::Connack => self.on_connack(body, on_event),
            PacketType::Publish => self.on_publish(header, body, on_event),
            PacketType::Puback | PacketType::Pubrec | PacketType::Pubrel | PacketType::Pubcomp => {
                let ack = Ack::decode(header, body, self.version())?;
                self.on_ack(ack, on_event)
            }
            PacketType::Suback => {
                let ack = SubAck::decode(header.kind, body, self.version())?;
                on_event(LiteEvent::Subscribed { packet_id: ack.packet_id, codes: ack.codes });
                Ok(())
            }
            PacketType::Unsuback => Ok(()),
            PacketType::Pingresp => {
                self.ping_sent = None;
                Ok(())
            }
            PacketType::Disconnect => {
                let d = Disconnect::decode(body, self.version())?;
                Err(ClientError::ServerDisconnect(ReasonCode(d.reason)))
            }
            _ => Err(protocol("a packet a broker does not send")),
        }
    }

    fn on_connack(
        &mut self,
        body: &[u8],
        on_event: &mut dyn FnMut(LiteEvent<'_>),
    ) -> Result<(), ClientError> {
        if !matches!(self.state, State::Connecting { .. }) {
            return Err(protocol("a CONNACK out of turn"));
        }
        let c = Connack::decode(body, self.version())?;
        ClientError::check_connack(self.version(), c.reason)?;
        self.window = N.min(usize::from(c.receive_maximum.unwrap_or(u16::MAX)));
        self.max_out = c.maximum_packet_size.map_or(M, |m| M.min(m as usize));
        if let Some(ka) = c.server_keep_alive {
            self.keep_alive_ms = u64::from(ka) * 1000;
        }
        self.state = State::Connected;
        self.ever_connected = true;
        if !c.session_present {
            self.incoming_qos2.clear();
        }
        on_event(LiteEvent::Connected { session_present: c.session_present });
        // What the broker has not acknowledged goes again, in order of packet identifier: with
        // the session, as duplicates (and PUBREL past PUBREC); without it, as new messages,
        // except those the broker had received (PUBREC), which count as delivered.
        for i in 0..N {
            let slot = self.slots[i];
            match (slot.stage, c.session_present) {
                (Stage::Free, _) => {}
                (Stage::Comp, true) => {
                    let pid = slot.pid;
                    self.send_ack(AckKind::Pubrel, pid, 0)?;
                }
                (Stage::Comp, false) => {
                    let pid = slot.pid;
                    self.slots[i].stage = Stage::Free;
                    on_event(LiteEvent::Delivered { packet_id: pid });
                }
                (_, resumed) => {
                    let packet = &mut self.store[i][..slot.len];
                    packet[0] = (packet[0] & !0x08) | (u8::from(resumed) << 3);
                    if !self.out.push(packet) {
                        // The rest goes on the next connection.
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    fn on_publish(
        &mut self,
        header: FixedHeader,
        body: &[u8],
        on_event: &mut dyn FnMut(LiteEvent<'_>),
    ) -> Result<(), ClientError> {
        let p = Publish::decode(header, body, self.version(), 0)?;
        let message = LiteEvent::Message { topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain };
        match (p.qos, p.packet_id) {
            (QoS::AtLeastOnce, Some(pid)) => {
                on_event(message);
                self.send_ack(AckKind::Puback, pid, 0)
            }
            (QoS::ExactlyOnce, Some(pid)) => {
                if !self.incoming_qos2.contains(&pid) {
                    self.incoming_qos2.push(pid).map_err(|_| {
                        protocol_reason(
                            ReasonCode::RECEIVE_MAXIMUM_EXCEEDED,
                            "too many QoS 2 messages at once",
                        )
                    })?;
                    on_event(message);
                }
                self.send_ack(AckKind::Pubrec, pid, 0)
            }
            _ => {
                on_event(message);
                Ok(())
            }
        }
    }

    fn on_ack(&mut self, ack: Ack<'_>, on_event: &mut dyn FnMut(LiteEvent<'_>)) -> Result<(), ClientError> {
        let pid = ack.packet_id;
        if ack.kind == AckKind::Pubrel {
            let known = match self.incoming_qos2.iter().position(|&p| p == pid) {
                Some(i) => {
                    self.incoming_qos2.swap_remove(i);
                    0
                }
                None => ReasonCode::PACKET_IDENTIFIER_NOT_FOUND.0,
            };
            return self.send_ack(AckKind::Pubcomp, pid, known);
        }
        let Some(i) = self.slots.iter().position(|s| s.stage != Stage::Free && s.pid == pid) else {
            // Not in flight (acknowledged before a reconnect): answered, otherwise ignored.
            return match ack.kind {
                AckKind::Pubrec => {
                    self.send_ack(AckKind::Pubrel, pid, ReasonCode::PACKET_IDENTIFIER_NOT_FOUND.0)
                }
                _ => Ok(()),
            };
        };
        let stage = self.slots[i].stage;
        let reason = ReasonCode(ack.reason);
        match (ack.kind, stage) {
            (AckKind::Pubrec, Stage::Rec) if !reason.is_error() => {
                self.slots[i].stage = Stage::Comp;
                self.send_ack(AckKind::Pubrel, pid, 0)
            }
            // A PUBREC repeated: answered again.
            (AckKind::Pubrec, Stage::Comp) => self.send_ack(AckKind::Pubrel, pid, 0),
            (AckKind::Puback, Stage::Ack)
            | (AckKind::Pubrec, Stage::Rec)
            | (AckKind::Pubcomp, Stage::Comp) => {
                self.slots[i].stage = Stage::Free;
                on_event(if reason.is_error() {
                    LiteEvent::Refused { packet_id: pid, reason }
                } else {
                    LiteEvent::Delivered { packet_id: pid }
                });
                Ok(())
            }
            _ => Err(protocol("an acknowledgement of the wrong kind")),
        }
    }

    fn send_ack(&mut self, kind: AckKind, pid: u16, reason: u8) -> Result<(), ClientError> {
        let mut ack = Ack::success(kind, pid);
        ack.reason = reason;
        let mut buf = [0u8; 8];
        let n = ack.encode(self.version(), &mut buf)?;
        // An answer that does not fit is sent again by the broker's own retry on reconnect.
        let _ = self.out.push(&buf[..n]);
        Ok(())
    }

    /// Encodes a packet at the end of the output.
    fn write(
        &mut self,
        encode: impl FnOnce(&mut [u8], Version) -> Result<usize, PacketError>,
    ) -> Result<(), LiteError> {
        let version = self.version();
        match encode(&mut self.out.buf[self.out.len..], version) {
            Ok(n) => {
                self.out.len += n;
                Ok(())
            }
            Err(PacketError::Wire(WireError::BufferFull)) => Err(LiteError::Busy),
            Err(e) => Err(LiteError::Packet(e)),
        }
    }

    fn version(&self) -> Version {
        if self.v5 { Version::V5 } else { Version::V3_1_1 }
    }

    /// The next packet identifier not in flight (1 to 65535).
    fn allocate_pid(&mut self) -> u16 {
        loop {
            self.next_pid = self.next_pid.checked_add(1).unwrap_or(1);
            let pid = self.next_pid;
            if !self.slots.iter().any(|s| s.stage != Stage::Free && s.pid == pid) {
                return pid;
            }
        }
    }
}

fn protocol(what: &'static str) -> ClientError {
    protocol_reason(ReasonCode::PROTOCOL_ERROR, what)
}

fn protocol_reason(reason: ReasonCode, what: &'static str) -> ClientError {
    ClientError::Protocol { reason, what }
}

fn packet_too_large() -> ClientError {
    protocol_reason(ReasonCode::PACKET_TOO_LARGE, "a packet larger than the input buffer")
}

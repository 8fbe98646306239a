//! A reliable link over a byte stream (a UART, RS-485, a pseudo-terminal), sans-IO and
//! `no_std`, without allocation: frames go out numbered, come in once and in order, and a
//! frame is acknowledged only when the receiving application has taken it
//! ([`ReliableLink::consume`]), so an acknowledged frame is one the other side owns.
//!
//! On top of the COBS+CRC packets of `telemetra_codec::stream` (a corrupted packet is
//! dropped there), the link adds: sequence numbers per direction; cumulative acknowledgements
//! on every packet and selective ones (which frames after a gap are held); retransmission
//! after a timeout from the measured round trip (RFC 6298, Karn's rule, back-off), and at once
//! when a later frame is known to have arrived (the link keeps order, so the frame before it
//! was lost); a send window of `W` frames; duplicate suppression; a handshake of session ids,
//! so a side that restarted is noticed and both sides start numbering again; keep-alives, and
//! the peer declared down after a silence. The wire format is in [`wire`].
//!
//! It is bytes in, bytes out, time passed in: [`ReliableLink::handle_packet`] takes the
//! payload of each packet the decoder produced, [`ReliableLink::poll_transmit`] gives the next
//! packet to frame and send, [`ReliableLink::handle_timeout`] runs the timers at
//! [`ReliableLink::poll_timeout`].
//!
//! ```
//! use telemetra_transports::serial::reliable::{Config, ReliableLink};
//!
//! // Two ends, 4 frames in flight, payloads up to 64 bytes; the session ids are random.
//! let mut a = ReliableLink::<4, 64>::new(Config::default(), 0x1111_1111);
//! let mut b = ReliableLink::<4, 64>::new(Config::default(), 0x2222_2222);
//! let id = a.send(b"reading").unwrap();
//! let mut wire = [0u8; 80];
//! // Carry every packet across until both are quiet (a real link frames them with COBS+CRC).
//! for _ in 0..10 {
//!     while let Some(n) = a.poll_transmit(0, &mut wire) { b.handle_packet(0, &wire[..n]); }
//!     while let Some(n) = b.poll_transmit(0, &mut wire) { a.handle_packet(0, &wire[..n]); }
//!     if let Some((taken, frame)) = b.receive() {
//!         assert_eq!(frame, b"reading");
//!         b.consume(taken); // now b acknowledges it
//!     }
//! }
//! assert!(a.is_acknowledged(id));
//! ```

mod rtt;
#[cfg(test)]
mod tests;
pub mod wire;

use telemetra_core::heapless::Deque;

use rtt::Rtt;
use wire::{Hello, Packet};

/// The timers of a link, in milliseconds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct Config {
    /// The retransmission timeout before a round trip was measured, and between HELLOs: 1,000.
    pub initial_rto: u32,
    /// The shortest retransmission timeout: 50.
    pub min_rto: u32,
    /// The longest, back-off included: 4,000.
    pub max_rto: u32,
    /// An acknowledgement is sent after this long without sending anything: 1,000.
    pub keepalive: u32,
    /// The peer is down after this long without a packet from it: 5,000.
    pub dead_after: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config { initial_rto: 1_000, min_rto: 50, max_rto: 4_000, keepalive: 1_000, dead_after: 5_000 }
    }
}

/// What happened to the link.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Event {
    /// Both sides know each other: frames flow.
    Up,
    /// Nothing heard from the peer for [`Config::dead_after`]; frames wait until it is back.
    Down,
    /// The peer started again (a new session): frames it held and had not taken are gone
    /// (they were not acknowledged), and frames not acknowledged to this side are sent again
    /// under new numbers.
    PeerRestarted,
    /// The peer takes payloads of at most this many bytes, fewer than this side sends.
    Incompatible {
        /// The peer's largest payload.
        max_payload: u16,
    },
}

/// Counters of everything the link did and dropped.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct Stats {
    /// Frames sent for the first time.
    pub sent: u64,
    /// Frames sent again (after a timeout or a gap).
    pub retransmitted: u64,
    /// Of those, sent again at once because a later frame was acknowledged.
    pub fast_retransmits: u64,
    /// Retransmission timer expiries.
    pub timeouts: u64,
    /// Frames acknowledged by the peer.
    pub acknowledged: u64,
    /// Frames taken by this side's application, in order.
    pub delivered: u64,
    /// Frames received again (already held or taken), dropped.
    pub duplicates: u64,
    /// Frames received too far ahead of the next expected one, dropped.
    pub out_of_window: u64,
    /// Packets that are not link packets, or acknowledge frames never sent, dropped.
    pub malformed: u64,
    /// DATA and ACK packets received before the handshake, dropped.
    pub before_handshake: u64,
    /// Times the peer started again.
    pub peer_restarts: u64,
    /// Events dropped because nobody took them (8 are kept).
    pub events_dropped: u64,
}

/// Why a frame was not queued.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// `W` frames wait for their acknowledgement already: send when one is acknowledged.
    #[error("the send window is full")]
    Full,
    /// The payload is longer than this side's (or the peer's) largest payload.
    #[error("a payload of {len} bytes is over the link's largest ({max})")]
    TooLarge {
        /// The payload's length.
        len: usize,
        /// The largest taken.
        max: usize,
    },
    /// A frame carries at least one byte.
    #[error("an empty payload")]
    Empty,
}

/// Names a received frame for [`ReliableLink::consume`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Taken {
    pairing: u32,
    seq: u16,
}

struct TxSlot<const P: usize> {
    data: [u8; P],
    len: u16,
    /// The number of the transmission that last carried it (0: not sent in this pairing).
    last_tx: u32,
    /// When it was last sent.
    sent_at: u64,
    /// Sent more than once (its round trip is not measured).
    resent: bool,
    /// The peer holds it (selective acknowledgement).
    held: bool,
    /// To be sent again.
    resend: bool,
}

struct RxSlot<const P: usize> {
    data: [u8; P],
    len: u16,
    present: bool,
}

/// One end of a reliable link: at most `W` frames (1 to 32) in flight each way, payloads of at
/// most `P` bytes.
pub struct ReliableLink<const W: usize, const P: usize> {
    config: Config,
    session: u32,
    peer: Option<Hello>,
    established: bool,
    /// Counts the pairings of sessions (each starts numbering again).
    pairing: u32,
    hello_due: bool,
    hello_at: u64,
    tx: [TxSlot<P>; W],
    tx_head: usize,
    /// Frames queued (sent or not), from `tx_head`.
    tx_count: usize,
    /// Of those, sent at least once in this pairing (a prefix).
    in_flight: usize,
    /// The number of the frame at `tx_head`.
    base: u16,
    /// Ids: frames queued ever, and acknowledged ever.
    queued_ever: u32,
    acked_ever: u32,
    tx_number: u32,
    rx: [RxSlot<P>; W],
    rx_head: usize,
    expected: u16,
    ack_due: bool,
    rtt: Rtt,
    rto_at: Option<u64>,
    last_sent: u64,
    last_heard: u64,
    events: Deque<Event, 8>,
    stats: Stats,
}

impl<const W: usize, const P: usize> ReliableLink<W, P> {
    /// A link end with the session id `session` (random at every start, never 0: a restart
    /// must look different to the peer).
    pub fn new(config: Config, session: u32) -> Self {
        const { assert!(W >= 1 && W <= 32, "the window is 1 to 32 frames") };
        const { assert!(P >= 1 && P <= u16::MAX as usize, "the payload is 1 to 65,535 bytes") };
        ReliableLink {
            config,
            session: session.max(1),
            peer: None,
            established: false,
            pairing: 0,
            hello_due: true,
            hello_at: 0,
            tx: core::array::from_fn(|_| TxSlot {
                data: [0; P],
                len: 0,
                last_tx: 0,
                sent_at: 0,
                resent: false,
                held: false,
                resend: false,
            }),
            tx_head: 0,
            tx_count: 0,
            in_flight: 0,
            base: 0,
            queued_ever: 0,
            acked_ever: 0,
            tx_number: 0,
            rx: core::array::from_fn(|_| RxSlot { data: [0; P], len: 0, present: false }),
            rx_head: 0,
            expected: 0,
            ack_due: false,
            rtt: Rtt::new(config.initial_rto, config.min_rto, config.max_rto),
            rto_at: None,
            last_sent: 0,
            last_heard: 0,
            events: Deque::new(),
            stats: Stats::default(),
        }
    }

    /// This side's session id.
    pub fn session(&self) -> u32 {
        self.session
    }

    /// Whether both sides know each other (frames flow).
    pub fn is_established(&self) -> bool {
        self.established
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The smoothed round trip in ms, once measured.
    pub fn round_trip(&self) -> Option<u32> {
        self.rtt.smoothed()
    }

    /// Frames queued and not yet acknowledged.
    pub fn unacknowledged(&self) -> usize {
        self.tx_count
    }

    /// Whether a frame can be queued now.
    pub fn can_send(&self) -> bool {
        self.tx_count < W
    }

    /// Queues `payload`; returns its id (they count up from 0), for
    /// [`ReliableLink::is_acknowledged`].
    pub fn send(&mut self, payload: &[u8]) -> Result<u32, SendError> {
        let max = self.peer.map_or(P, |h| P.min(usize::from(h.max_payload)));
        if payload.is_empty() {
            return Err(SendError::Empty);
        }
        if payload.len() > max {
            return Err(SendError::TooLarge { len: payload.len(), max });
        }
        if self.tx_count == W {
            return Err(SendError::Full);
        }
        let slot = &mut self.tx[(self.tx_head + self.tx_count) % W];
        slot.data[..payload.len()].copy_from_slice(payload);
        slot.len = payload.len() as u16;
        slot.last_tx = 0;
        slot.resent = false;
        slot.held = false;
        slot.resend = false;
        self.tx_count += 1;
        let id = self.queued_ever;
        self.queued_ever = self.queued_ever.wrapping_add(1);
        Ok(id)
    }

    /// Whether the frame `id` was acknowledged: the peer's application took it.
    pub fn is_acknowledged(&self, id: u32) -> bool {
        // Ids below `acked_ever` (in wrapping order, within the last 2^31).
        self.acked_ever.wrapping_sub(id).wrapping_sub(1) < 1 << 31
    }

    /// How many frames were acknowledged since the start (ids below it are).
    pub fn acknowledged(&self) -> u32 {
        self.acked_ever
    }

    /// The next frame in order, if it arrived; it stays until [`ReliableLink::consume`].
    pub fn receive(&self) -> Option<(Taken, &[u8])> {
        let slot = &self.rx[self.rx_head];
        slot.present.then(|| {
            (Taken { pairing: self.pairing, seq: self.expected }, &slot.data[..usize::from(slot.len)])
        })
    }

    /// Takes the frame [`ReliableLink::receive`] gave: it is acknowledged from now on. `false`
    /// (and nothing taken) if the peer restarted since, and the frame is gone.
    pub fn consume(&mut self, taken: Taken) -> bool {
        let slot = &mut self.rx[self.rx_head];
        if taken != (Taken { pairing: self.pairing, seq: self.expected }) || !slot.present {
            return false;
        }
        slot.present = false;
        self.rx_head = (self.rx_head + 1) % W;
        self.expected = self.expected.wrapping_add(1);
        self.stats.delivered += 1;
        self.ack_due = true;
        true
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn event(&mut self, e: Event) {
        if self.events.is_full() {
            self.events.pop_front();
            self.stats.events_dropped += 1;
        }
        let _ = self.events.push_back(e);
    }

    /// When [`ReliableLink::handle_timeout`] must run next.
    pub fn poll_timeout(&self) -> Option<u64> {
        let keepalive = self.last_sent + u64::from(self.config.keepalive);
        let dead = self.last_heard + u64::from(self.config.dead_after);
        let link = if self.established { keepalive.min(dead) } else { self.hello_at };
        Some(self.rto_at.map_or(link, |r| r.min(link)))
    }

    /// Runs the timers due at `now`: retransmission, the peer's silence.
    pub fn handle_timeout(&mut self, now: u64) {
        if self.rto_at.is_some_and(|t| now >= t) {
            self.rto_at = None;
            self.stats.timeouts += 1;
            self.rtt.back_off();
            for k in 0..self.in_flight {
                let slot = self.tx_slot(k);
                if !slot.held {
                    slot.resend = true;
                }
            }
        }
        if self.established && now >= self.last_heard + u64::from(self.config.dead_after) {
            self.established = false;
            self.hello_at = now;
            self.event(Event::Down);
        }
    }

    fn tx_slot(&mut self, k: usize) -> &mut TxSlot<P> {
        &mut self.tx[(self.tx_head + k) % W]
    }

    /// Writes the next packet to send into `out` (room for `P` + 5 bytes); returns its
    /// length, `None` when there is nothing to send now.
    pub fn poll_transmit(&mut self, now: u64, out: &mut [u8]) -> Option<usize> {
        if self.hello_due || (!self.established && now >= self.hello_at) {
            self.hello_due = false;
            self.hello_at = now + u64::from(self.config.initial_rto);
            let hello = Hello {
                reply: !self.established,
                session: self.session,
                peer: self.peer.map_or(0, |h| h.session),
                window: W as u8,
                max_payload: P as u16,
            };
            return self.sent(now, Packet::Hello(hello).write(out));
        }
        if !self.established {
            return None;
        }
        let ack = self.expected;
        let resend = (0..self.in_flight).find(|&k| self.tx[(self.tx_head + k) % W].resend);
        let window = self.peer.map_or(W, |h| W.min(usize::from(h.window)));
        let next = match resend {
            Some(k) => Some(k),
            None if self.in_flight < self.tx_count && self.in_flight < window => Some(self.in_flight),
            None => None,
        };
        if let Some(k) = next {
            let seq = self.base.wrapping_add(k as u16);
            self.tx_number = self.tx_number.wrapping_add(1);
            let number = self.tx_number;
            let slot = &mut self.tx[(self.tx_head + k) % W];
            let written = Packet::Data { seq, ack, payload: &slot.data[..usize::from(slot.len)] }.write(out);
            written?;
            if slot.last_tx == 0 {
                self.stats.sent += 1;
                self.in_flight += 1;
            } else {
                slot.resent = true;
                self.stats.retransmitted += 1;
            }
            slot.resend = false;
            slot.last_tx = number;
            slot.sent_at = now;
            // The DATA carries the cumulative acknowledgement; a gap still needs an ACK, whose
            // selective part tells the peer what to send again.
            let held = self.sack();
            self.ack_due = held & held.wrapping_add(1) != 0;
            if self.rto_at.is_none() {
                self.rto_at = Some(now + u64::from(self.rtt.rto()));
            }
            return self.sent(now, written);
        }
        if self.ack_due || now >= self.last_sent + u64::from(self.config.keepalive) {
            self.ack_due = false;
            return self.sent(now, Packet::Ack { ack, sack: self.sack() }.write(out));
        }
        None
    }

    fn sent(&mut self, now: u64, written: Option<usize>) -> Option<usize> {
        if written.is_some() {
            self.last_sent = now;
        }
        written
    }

    /// Which frames from the next expected one on are held.
    fn sack(&self) -> u32 {
        (0..W).filter(|&d| self.rx[(self.rx_head + d) % W].present).fold(0, |s, d| s | 1 << d)
    }

    /// Takes one packet (the payload of a COBS+CRC packet the decoder produced).
    pub fn handle_packet(&mut self, now: u64, bytes: &[u8]) {
        let Ok(packet) = Packet::parse(bytes) else {
            self.stats.malformed += 1;
            return;
        };
        self.last_heard = now;
        match packet {
            Packet::Hello(h) => self.on_hello(h),
            _ if !self.established => self.stats.before_handshake += 1,
            Packet::Data { seq, ack, payload } => {
                self.on_ack(now, ack, None);
                self.on_data(seq, payload);
            }
            Packet::Ack { ack, sack } => self.on_ack(now, ack, Some(sack)),
        }
    }

    fn on_hello(&mut self, h: Hello) {
        let restarted = self.peer.is_some_and(|p| p.session != h.session);
        if self.peer.is_none_or(|p| p.session != h.session) {
            if restarted {
                self.stats.peer_restarts += 1;
                self.event(Event::PeerRestarted);
            }
            self.start_pairing();
            if usize::from(h.max_payload) < P {
                self.event(Event::Incompatible { max_payload: h.max_payload });
            }
        }
        self.peer = Some(h);
        let was = self.established;
        self.established = h.peer == self.session;
        if self.established && !was {
            self.event(Event::Up);
        }
        // Answer a side that does not know us yet, or asks.
        if !self.established || h.reply {
            self.hello_due = true;
        }
    }

    /// A new pairing of sessions: both directions number from 0 again; what was held and not
    /// taken is dropped (never acknowledged), what was not acknowledged goes again.
    fn start_pairing(&mut self) {
        self.pairing = self.pairing.wrapping_add(1);
        for slot in &mut self.rx {
            slot.present = false;
        }
        self.rx_head = 0;
        self.expected = 0;
        self.ack_due = false;
        for slot in &mut self.tx {
            slot.last_tx = 0;
            slot.resent = false;
            slot.held = false;
            slot.resend = false;
        }
        self.in_flight = 0;
        self.base = 0;
        self.rto_at = None;
    }

    fn on_data(&mut self, seq: u16, payload: &[u8]) {
        self.ack_due = true;
        let d = usize::from(seq.wrapping_sub(self.expected));
        if d >= W {
            // Behind the next expected (taken already) or too far ahead.
            if d >= 1 << 15 {
                self.stats.duplicates += 1;
            } else {
                self.stats.out_of_window += 1;
            }
            return;
        }
        if payload.len() > P {
            self.stats.malformed += 1;
            return;
        }
        let slot = &mut self.rx[(self.rx_head + d) % W];
        if slot.present {
            self.stats.duplicates += 1;
            return;
        }
        slot.data[..payload.len()].copy_from_slice(payload);
        slot.len = payload.len() as u16;
        slot.present = true;
    }

    fn on_ack(&mut self, now: u64, ack: u16, sack: Option<u32>) {
        let n = usize::from(ack.wrapping_sub(self.base));
        if n > self.in_flight {
            // Acknowledges frames never sent: not from this pairing.
            self.stats.malformed += 1;
            return;
        }
        for _ in 0..n {
            let slot = &self.tx[self.tx_head];
            if !slot.resent {
                self.rtt.sample(now.saturating_sub(slot.sent_at).min(u64::from(u32::MAX)) as u32);
            }
            self.tx_head = (self.tx_head + 1) % W;
            self.tx_count -= 1;
            self.in_flight -= 1;
            self.base = self.base.wrapping_add(1);
            self.acked_ever = self.acked_ever.wrapping_add(1);
            self.stats.acknowledged += 1;
        }
        if n > 0 {
            self.rto_at = (self.in_flight > 0).then(|| now + u64::from(self.rtt.rto()));
        }
        let Some(sack) = sack else { return };
        // The link keeps order: a frame not held, sent before one that is, was lost.
        let mut latest_held = 0;
        for k in (0..self.in_flight).rev() {
            let slot = &mut self.tx[(self.tx_head + k) % W];
            slot.held = sack >> k & 1 == 1;
            if slot.held {
                latest_held = latest_held.max(slot.last_tx);
            } else if slot.last_tx < latest_held && !slot.resend {
                slot.resend = true;
                self.stats.fast_retransmits += 1;
            }
        }
    }
}

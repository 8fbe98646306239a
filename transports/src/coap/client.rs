//! The requesting side of CoAP over UDP (RFC 7252 §4, §5.2): requests by CON or NON,
//! retransmitted on schedule, answered by a piggy-backed response in the ACK or by a separate
//! response later, matched by token; an RST ends the request; a confirmable response is
//! acknowledged, and a duplicate one acknowledged again without being reported twice.
//!
//! Sans-IO and `no_std`: the caller passes datagrams in ([`Client::handle_datagram`]) and takes
//! them out ([`Client::poll_transmit`]), and runs the timers ([`Client::handle_timeout`] at
//! [`Client::next_timeout`]). `N` requests may be outstanding at once, each kept in `M` bytes
//! for its retransmissions; nothing is allocated.
//!
//! ```
//! use telemetra_transports::coap::client::{Client, Event};
//! use telemetra_transports::coap::{Builder, Code, Message, OptionNumber, Type};
//! use telemetra_transports::coap::reliability::Params;
//!
//! let mut c: Client<4, 256> = Client::new(Params::default(), 0x1234_5678);
//! let token = c.request(0, Type::Con, Code::GET, |b| { b.option(OptionNumber::URI_PATH, b"t")?; Ok(()) }, &[]).unwrap();
//! let sent = c.poll_transmit(0).unwrap().to_vec();
//! let req = Message::parse(&sent).unwrap();
//! // The server answers in the ACK (piggy-backed).
//! let mut buf = [0u8; 64];
//! let ack = Builder::new(&mut buf, Type::Ack, Code::CONTENT, req.message_id, req.token).unwrap().payload(b"21.5").unwrap();
//! match c.handle_datagram(10, ack) {
//!     Some(Event::Response { token: t, message }) => {
//!         assert_eq!((t, message.code, message.payload), (token, Code::CONTENT, &b"21.5"[..]));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

use telemetra_core::heapless;

use super::code::Code;
use super::message::{BuildError, Builder, Message, Type, confirmable_message_id};
use super::observe::{DEREGISTER, Freshness, REGISTER};
use super::option::{OptionNumber, uint_value};
use super::reliability::{Dedup, Due, Novelty, Params, Transmission};

/// A request's token: how its response is found (4 random bytes from the seeded source).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Token(pub [u8; 4]);

/// What happened to a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// Its response (piggy-backed or separate).
    Response {
        /// The request.
        token: Token,
        /// The response, over the datagram passed in.
        message: Message<'a>,
    },
    /// A later notification of an observation ([`Client::observe`]): fresher than the last
    /// one taken (RFC 7641 §3.4; stale and reordered ones are not reported).
    Notification {
        /// The observation.
        token: Token,
        /// The notification, over the datagram passed in.
        message: Message<'a>,
    },
    /// The server reset it (RST): it could not process the request.
    Reset(Token),
    /// No acknowledgement after every retransmission, or no separate response in time.
    TimedOut(Token),
}

/// Why a request was not taken.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// `N` requests are outstanding already.
    #[error("too many outstanding requests")]
    Busy,
    /// The request does not fit in `M` bytes, or an option is out of order.
    #[error("the request cannot be built: {0}")]
    Build(#[from] BuildError),
    /// Only GET, POST, PUT, DELETE, FETCH, PATCH and iPATCH by CON or NON.
    #[error("not a request")]
    NotARequest,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    /// Not sent yet (waiting for NSTART).
    Queued,
    /// Sent by CON, retransmitted until acknowledged.
    Unacked(Transmission),
    /// Acknowledged empty (or sent by NON): the response comes separately, until `until`.
    Waiting { until: u64 },
    /// An observation the server took: notifications come until it is forgotten.
    Observing(Freshness),
}

#[derive(Clone, Debug)]
struct Slot<const M: usize> {
    token: Token,
    message_id: u16,
    confirmable: bool,
    /// Asked to observe (a GET with Observe 0).
    observe: bool,
    stage: Stage,
    /// Send it (again) at the next `poll_transmit`.
    send: bool,
    /// When it was first sent (for [`Client::keep_trying`]).
    first_sent: u64,
    bytes: heapless::Vec<u8, M>,
}

/// Counters.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Retransmissions sent.
    pub retransmissions: u64,
    /// Confirmable responses received again (acknowledged again, not reported).
    pub duplicates: u64,
    /// Datagrams that were not well-formed CoAP, or matched nothing (ignored, or answered RST
    /// when confirmable).
    pub ignored: u64,
    /// Notifications older than one already taken (reordered or late): not reported.
    pub stale: u64,
}

/// The client. See the [module documentation](self).
#[derive(Debug)]
pub struct Client<const N: usize, const M: usize> {
    params: Params,
    slots: heapless::Vec<Slot<M>, N>,
    /// Empty ACKs and RSTs to send: (type, Message ID).
    control: heapless::Deque<(Type, u16), 8>,
    scratch: [u8; 4],
    next_message_id: u16,
    rng: u32,
    seen: Dedup<(), 32>,
    stats: Stats,
    keep_trying: bool,
}

impl<const N: usize, const M: usize> Client<N, M> {
    /// A client with `params`, its tokens, Message IDs and retransmission timeouts drawn from a
    /// generator seeded with `seed` (from the platform's random source).
    pub fn new(params: Params, seed: u32) -> Self {
        let mut c = Client {
            params,
            slots: heapless::Vec::new(),
            control: heapless::Deque::new(),
            scratch: [0; 4],
            next_message_id: 0,
            rng: seed | 1,
            seen: Dedup::default(),
            stats: Stats::default(),
            keep_trying: false,
        };
        c.next_message_id = c.random() as u16;
        c
    }

    fn random(&mut self) -> u32 {
        super::xorshift(&mut self.rng)
    }

    /// Keeps retransmitting a confirmable request past MAX_RETRANSMIT — the same bytes and
    /// Message ID, the schedule started over — until EXCHANGE_LIFETIME has passed since it was
    /// first sent. A server deduplicates a Message ID for that long (RFC 7252 §4.5), so a request
    /// that must neither be lost nor processed twice (a device's telemetry) gets every chance
    /// without becoming a second exchange. Off by default (RFC 7252's plain give-up).
    pub fn keep_trying(&mut self, on: bool) {
        self.keep_trying = on;
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Requests outstanding.
    pub fn outstanding(&self) -> usize {
        self.slots.len()
    }

    /// Starts a request: `options` adds its options to the builder (in order), `payload` ends
    /// it. Sent at the next [`Client::poll_transmit`] (a CON waits while NSTART others are
    /// unacknowledged).
    pub fn request(
        &mut self,
        now: u64,
        ty: Type,
        code: Code,
        options: impl FnOnce(&mut Builder<'_>) -> Result<(), BuildError>,
        payload: &[u8],
    ) -> Result<Token, RequestError> {
        self.start(now, ty, code, None, None, options, payload)
    }

    /// Observes a resource (RFC 7641): a GET with Observe 0 (added before the options
    /// `options` adds, which must number above 6). Its response is an [`Event::Response`];
    /// if the server took the observation (the response has an Observe option), each fresher
    /// state comes as an [`Event::Notification`] until [`Client::forget`].
    pub fn observe(
        &mut self,
        now: u64,
        ty: Type,
        options: impl FnOnce(&mut Builder<'_>) -> Result<(), BuildError>,
    ) -> Result<Token, RequestError> {
        self.observe_with(now, ty, Code::GET, options, &[])
    }

    /// [`Client::observe`] with another method and a payload: FETCH (RFC 8132), or the outer
    /// POST/FETCH of an OSCORE-protected registration whose inner request is the GET.
    pub fn observe_with(
        &mut self,
        now: u64,
        ty: Type,
        code: Code,
        options: impl FnOnce(&mut Builder<'_>) -> Result<(), BuildError>,
        payload: &[u8],
    ) -> Result<Token, RequestError> {
        self.start(now, ty, code, None, Some(REGISTER), options, payload)
    }

    /// Cancels an observation proactively (RFC 7641 §3.6): forgets it and sends a GET with
    /// Observe 1 and the observation's token (`options` adds the same options as the
    /// registration did). The server's answer comes as an [`Event::Response`] for `token`;
    /// a notification already on its way is answered RST. `Ok(false)`: no such observation.
    pub fn cancel(
        &mut self,
        now: u64,
        token: Token,
        ty: Type,
        options: impl FnOnce(&mut Builder<'_>) -> Result<(), BuildError>,
    ) -> Result<bool, RequestError> {
        let Some(i) = self.slots.iter().position(|s| s.token == token && s.observe) else {
            return Ok(false);
        };
        self.slots.swap_remove(i);
        self.start(now, ty, Code::GET, Some(token), Some(DEREGISTER), options, &[])?;
        Ok(true)
    }

    /// Ends an observation (or abandons a request): its next notification is answered RST,
    /// which ends it on the server too (RFC 7641 §3.6).
    pub fn forget(&mut self, token: Token) -> bool {
        match self.slots.iter().position(|s| s.token == token) {
            Some(i) => {
                self.slots.swap_remove(i);
                true
            }
            None => false,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn start(
        &mut self,
        now: u64,
        ty: Type,
        code: Code,
        token: Option<Token>,
        observe: Option<u32>,
        options: impl FnOnce(&mut Builder<'_>) -> Result<(), BuildError>,
        payload: &[u8],
    ) -> Result<Token, RequestError> {
        if !code.is_request() || !matches!(ty, Type::Con | Type::Non) {
            return Err(RequestError::NotARequest);
        }
        if self.slots.is_full() {
            return Err(RequestError::Busy);
        }
        let token = match token {
            Some(t) => t,
            None => loop {
                let t = Token(self.random().to_be_bytes());
                if !self.slots.iter().any(|s| s.token == t) {
                    break t;
                }
            },
        };
        let message_id = self.next_message_id;
        self.next_message_id = self.next_message_id.wrapping_add(1);
        let mut buf = [0u8; M];
        let mut b = Builder::new(&mut buf, ty, code, message_id, &token.0)?;
        if let Some(value) = observe {
            b.uint_option(OptionNumber::OBSERVE, value)?;
        }
        options(&mut b)?;
        let bytes = b.payload(payload)?;
        let bytes = heapless::Vec::from_slice(bytes).map_err(|_| BuildError::BufferTooSmall)?;
        let confirmable = ty == Type::Con;
        let stage = if confirmable {
            Stage::Queued
        } else {
            Stage::Waiting { until: now + self.params.non_lifetime_ms() }
        };
        let _ = self.slots.push(Slot {
            token,
            message_id,
            confirmable,
            observe: observe == Some(REGISTER),
            stage,
            send: !confirmable,
            first_sent: now,
            bytes,
        });
        self.start_queued(now);
        Ok(token)
    }

    /// Starts queued confirmable requests while fewer than NSTART are unacknowledged.
    fn start_queued(&mut self, now: u64) {
        let unacked = self.slots.iter().filter(|s| matches!(s.stage, Stage::Unacked(_))).count();
        let mut room = usize::from(self.params.nstart.max(1)).saturating_sub(unacked);
        for i in 0..self.slots.len() {
            if room == 0 {
                break;
            }
            if self.slots[i].stage == Stage::Queued {
                let r = self.random();
                let slot = &mut self.slots[i];
                slot.stage = Stage::Unacked(Transmission::start(now, &self.params, r));
                slot.send = true;
                slot.first_sent = now;
                room -= 1;
            }
        }
    }

    /// The next datagram to send, if any.
    pub fn poll_transmit(&mut self, _now: u64) -> Option<&[u8]> {
        if let Some((ty, id)) = self.control.pop_front() {
            let mut buf = [0u8; 4];
            let bytes = Builder::new(&mut buf, ty, Code::EMPTY, id, &[]).ok()?.finish();
            self.scratch.copy_from_slice(bytes);
            return Some(&self.scratch);
        }
        let slot = self.slots.iter_mut().find(|s| s.send)?;
        slot.send = false;
        Some(&slot.bytes)
    }

    /// When [`Client::handle_timeout`] should run next.
    pub fn next_timeout(&self) -> Option<u64> {
        self.slots
            .iter()
            .filter_map(|s| match s.stage {
                Stage::Unacked(t) => Some(t.next_at()),
                Stage::Waiting { until } => Some(until),
                Stage::Queued | Stage::Observing(_) => None,
            })
            .min()
    }

    /// Runs the timers: retransmissions, and requests that got no answer in time (the
    /// first one reported; call again until `None`).
    pub fn handle_timeout(&mut self, now: u64) -> Option<Event<'static>> {
        let mut ended = None;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            match &mut slot.stage {
                Stage::Unacked(t) => match t.on_timeout(now) {
                    Some(Due::Retransmit(_)) => {
                        slot.send = true;
                        self.stats.retransmissions += 1;
                    }
                    Some(Due::GiveUp)
                        if self.keep_trying
                            && now + self.params.max_transmit_wait_ms()
                                <= slot.first_sent + self.params.exchange_lifetime_ms() =>
                    {
                        // Another round fits in the server's deduplication window.
                        *t = Transmission::start(now, &self.params, self.rng.rotate_left(7));
                        slot.send = true;
                        self.stats.retransmissions += 1;
                    }
                    Some(Due::GiveUp) => {
                        ended = Some(i);
                        break;
                    }
                    None => {}
                },
                Stage::Waiting { until } if now >= *until => {
                    ended = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let slot = self.slots.swap_remove(ended?);
        self.start_queued(now);
        Some(Event::TimedOut(slot.token))
    }

    /// Takes a datagram from the server. Returns what it meant for a request, if anything.
    pub fn handle_datagram<'a>(&mut self, now: u64, bytes: &'a [u8]) -> Option<Event<'a>> {
        let Ok(m) = Message::parse(bytes) else {
            // A message format error: a confirmable one is rejected if its ID can be read.
            if let Some(id) = confirmable_message_id(bytes) {
                let _ = self.control.push_back((Type::Rst, id));
            }
            self.stats.ignored += 1;
            return None;
        };
        match m.ty {
            Type::Ack | Type::Rst => {
                let Some(i) = self.slots.iter().position(|s| s.confirmable && s.message_id == m.message_id)
                else {
                    self.stats.ignored += 1;
                    return None;
                };
                if !matches!(self.slots[i].stage, Stage::Unacked(_)) {
                    // A second ACK of an acknowledged request.
                    self.stats.ignored += 1;
                    return None;
                }
                if m.ty == Type::Rst {
                    let slot = self.slots.swap_remove(i);
                    self.start_queued(now);
                    return Some(Event::Reset(slot.token));
                }
                if m.code.is_empty() {
                    // The response comes separately.
                    let until = now + self.params.exchange_lifetime_ms();
                    self.slots[i].stage = Stage::Waiting { until };
                    self.slots[i].send = false;
                    self.start_queued(now);
                    return None;
                }
                self.respond(now, i, m)
            }
            Type::Con | Type::Non => {
                if m.code.is_empty() {
                    // A CoAP ping (CON Empty) is answered RST; an Empty NON is ignored.
                    if m.ty == Type::Con {
                        let _ = self.control.push_back((Type::Rst, m.message_id));
                    }
                    return None;
                }
                let confirmable = m.ty == Type::Con;
                if confirmable
                    && self.seen.check((), m.message_id, now, self.params.exchange_lifetime_ms())
                        == Novelty::Duplicate
                {
                    self.stats.duplicates += 1;
                    let _ = self.control.push_back((Type::Ack, m.message_id));
                    return None;
                }
                let found = m
                    .code
                    .is_response()
                    .then(|| self.slots.iter().position(|s| s.token.0[..] == *m.token))
                    .flatten();
                let Some(i) = found else {
                    self.stats.ignored += 1;
                    // A notification of a forgotten observation is rejected too, so that the
                    // server stops (RFC 7641 §3.6).
                    if confirmable || m.option(OptionNumber::OBSERVE).is_some() {
                        let _ = self.control.push_back((Type::Rst, m.message_id));
                    }
                    return None;
                };
                if confirmable {
                    let _ = self.control.push_back((Type::Ack, m.message_id));
                }
                self.respond(now, i, m)
            }
        }
    }

    fn respond<'a>(&mut self, now: u64, i: usize, m: Message<'a>) -> Option<Event<'a>> {
        if m.token != self.slots[i].token.0 {
            self.stats.ignored += 1;
            return None;
        }
        let observed = m.option(OptionNumber::OBSERVE).and_then(uint_value);
        let slot = &mut self.slots[i];
        let token = slot.token;
        match (slot.stage, observed) {
            // A notification: reported if fresher than the last.
            (Stage::Observing(mut fresh), Some(v)) => {
                if !fresh.take(v, now) {
                    self.stats.stale += 1;
                    return None;
                }
                slot.stage = Stage::Observing(fresh);
                return Some(Event::Notification { token, message: m });
            }
            // The first response to an observing GET, and the server took it.
            (_, Some(v)) if slot.observe && m.code.is_response() && m.code.class() == 2 => {
                slot.stage = Stage::Observing(Freshness::new(v, now));
                slot.send = false;
                self.start_queued(now);
                return Some(Event::Response { token, message: m });
            }
            _ => {}
        }
        // A plain response, or one that ends an observation (no Observe option, an error).
        self.slots.swap_remove(i);
        self.start_queued(now);
        Some(Event::Response { token, message: m })
    }
}

#[cfg(test)]
mod tests;

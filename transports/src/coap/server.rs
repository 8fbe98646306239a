//! The serving side of CoAP over UDP (RFC 7252 §4, §5.2): requests handed to the application
//! once, answered piggy-backed in the ACK (CON) or by a NON response (NON); a duplicate of a
//! request answered again from a cache of responses, never processed twice (§4.5); a request
//! with a critical option this side does not understand answered 4.02 Bad Option without the
//! application (§5.4.1); pings and malformed confirmable messages answered RST.
//!
//! Sans-IO and `no_std`: [`Server::handle_datagram`] takes a datagram and its peer `P` (any
//! address type) and says what to do; [`Server::respond`] builds the answer the application
//! gives and returns the bytes to send to that peer. Responses to the last `N` requests are
//! kept (each at most `M` bytes) for their exchange lifetime.
//!
//! ```
//! use telemetra_transports::coap::server::{Incoming, Server};
//! use telemetra_transports::coap::{Builder, Code, Message, OptionNumber, Type};
//! use telemetra_transports::coap::reliability::Params;
//!
//! let mut s: Server<u32, 16, 256> = Server::new(Params::default(), 99);
//! let mut buf = [0u8; 64];
//! let mut b = Builder::new(&mut buf, Type::Con, Code::GET, 0x10, &[7]).unwrap();
//! b.option(OptionNumber::URI_PATH, b"t").unwrap();
//! let request = b.finish().to_vec();
//! let Incoming::Request(req) = s.handle_datagram(0, 1, &request) else { panic!() };
//! assert_eq!(req.message.option(OptionNumber::URI_PATH), Some(&b"t"[..]));
//! let answer = s.respond(0, &req, Code::CONTENT, |_| Ok(()), b"21.5").unwrap().to_vec();
//! let m = Message::parse(&answer).unwrap();
//! assert_eq!((m.ty, m.code, m.message_id, m.token), (Type::Ack, Code::CONTENT, 0x10, &[7][..]));
//! // The request again (our ACK was lost): the same answer, the application not asked again.
//! assert_eq!(s.handle_datagram(1_000, 1, &request), Incoming::Reply(&answer[..]));
//! ```

use telemetra_core::heapless;

use super::code::Code;
use super::message::{BuildError, Builder, Message, Type, confirmable_message_id};
use super::reliability::{Due, Params, Transmission};

/// A request for the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a, P> {
    /// Who sent it.
    pub peer: P,
    /// The request, over the datagram passed in.
    pub message: Message<'a>,
}

/// What an incoming datagram means.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a, 's, P> {
    /// A new request: answer it with [`Server::respond`].
    Request(Request<'a, P>),
    /// Send these bytes back to the peer (an RST, a 4.02, or the cached answer to a duplicate).
    Reply(&'s [u8]),
    /// The peer acknowledged a separate response this side sent ([`Server::respond_later`]),
    /// by its Message ID: it is delivered.
    Acknowledged {
        /// The peer.
        peer: P,
        /// The response's Message ID.
        message_id: u16,
    },
    /// The peer rejected a separate response (RST): it could not process it.
    Rejected {
        /// The peer.
        peer: P,
        /// The response's Message ID.
        message_id: u16,
    },
    /// Nothing to do (a NON that is not a request, an ACK or RST this side does not track, a
    /// duplicate whose answer is not ready, a malformed non-confirmable datagram).
    Ignored,
}

/// A separate response the peer never acknowledged (see [`Server::handle_timeout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unacknowledged<P> {
    /// The peer.
    pub peer: P,
    /// The response's Message ID.
    pub message_id: u16,
}

/// Why a separate response was not taken.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeparateError {
    /// `O` separate responses await acknowledgement already.
    #[error("too many separate responses awaiting acknowledgement")]
    Busy,
    /// It does not fit in `M` bytes, or an option is out of order.
    #[error("the response cannot be built: {0}")]
    Build(#[from] BuildError),
}

#[derive(Debug, Clone)]
struct Outgoing<P, const M: usize> {
    peer: P,
    message_id: u16,
    tx: Transmission,
    send: bool,
    bytes: heapless::Vec<u8, M>,
}

/// Counters.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Requests handed to the application.
    pub requests: u64,
    /// Duplicates answered from the cache (or ignored while their answer was not ready).
    pub duplicates: u64,
    /// Requests answered 4.02 Bad Option.
    pub bad_options: u64,
    /// Datagrams that were not well-formed CoAP.
    pub malformed: u64,
    /// Cached answers forgotten before their lifetime because the cache was full.
    pub evicted: u64,
    /// Non-confirmable notifications dropped unsent because newer ones filled the queue.
    pub notifications_dropped: u64,
}

#[derive(Debug, Clone)]
struct Cached<P, const M: usize> {
    peer: P,
    message_id: u16,
    until: u64,
    /// Empty until the application answers.
    answer: heapless::Vec<u8, M>,
}

/// The server. See the [module documentation](self).
#[derive(Debug)]
pub struct Server<P, const N: usize, const M: usize, const O: usize = 4, const K: usize = 8> {
    params: Params,
    cache: heapless::Deque<Cached<P, M>, N>,
    outgoing: heapless::Vec<Outgoing<P, M>, O>,
    observers: heapless::Vec<observers::Observer<P>, K>,
    sequence: super::observe::Sequence,
    /// Non-confirmable notifications to send.
    notices: heapless::Deque<(P, heapless::Vec<u8, M>), O>,
    scratch: [u8; M],
    next_message_id: u16,
    stats: Stats,
}

impl<P: Copy + Eq, const N: usize, const M: usize, const O: usize, const K: usize> Server<P, N, M, O, K> {
    /// A server; `seed` (from the platform's random source) starts its Message IDs.
    pub fn new(params: Params, seed: u16) -> Self {
        Server {
            params,
            cache: heapless::Deque::new(),
            outgoing: heapless::Vec::new(),
            observers: heapless::Vec::new(),
            sequence: super::observe::Sequence::starting_at(seed as u32),
            notices: heapless::Deque::new(),
            scratch: [0; M],
            next_message_id: seed,
            stats: Stats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Takes a datagram from `peer` at `now`.
    pub fn handle_datagram<'a>(&mut self, now: u64, peer: P, bytes: &'a [u8]) -> Incoming<'a, '_, P> {
        let m = match Message::parse(bytes) {
            Ok(m) => m,
            Err(_) => {
                self.stats.malformed += 1;
                // A malformed confirmable message whose ID can be read is rejected (§4.2).
                return match confirmable_message_id(bytes) {
                    Some(id) => self.empty(Type::Rst, id),
                    None => Incoming::Ignored,
                };
            }
        };
        match (m.ty, m.code) {
            // A ping (§4.3) or anything confirmable that is not a request: RST.
            (Type::Con, code) if !code.is_request() => return self.empty(Type::Rst, m.message_id),
            (Type::Non, code) if !code.is_request() => return Incoming::Ignored,
            (Type::Ack | Type::Rst, _) => {
                // An RST to a notification cancels its observation (RFC 7641 §3.6).
                let cancelled = m.ty == Type::Rst && self.forget_observer(peer, m.message_id);
                let Some(i) =
                    self.outgoing.iter().position(|o| o.peer == peer && o.message_id == m.message_id)
                else {
                    return match cancelled {
                        true => Incoming::Rejected { peer, message_id: m.message_id },
                        false => Incoming::Ignored,
                    };
                };
                let o = self.outgoing.swap_remove(i);
                return match m.ty {
                    Type::Ack => Incoming::Acknowledged { peer, message_id: o.message_id },
                    _ => Incoming::Rejected { peer, message_id: o.message_id },
                };
            }
            _ => {}
        }
        self.expire(now);
        // Found by position, then borrowed: returning a borrow from a search that may fail
        // keeps `self.cache` borrowed on the other path too.
        if let Some(i) = self.cache.iter().position(|c| c.peer == peer && c.message_id == m.message_id) {
            self.stats.duplicates += 1;
            return match self.cache.get(i) {
                Some(c) if !c.answer.is_empty() => Incoming::Reply(&c.answer),
                _ => Incoming::Ignored,
            };
        }
        if self.cache.is_full() {
            self.cache.pop_front();
            self.stats.evicted += 1;
        }
        let lifetime = match m.ty {
            Type::Con => self.params.exchange_lifetime_ms(),
            _ => self.params.non_lifetime_ms(),
        };
        let _ = self.cache.push_back(Cached {
            peer,
            message_id: m.message_id,
            until: now + lifetime,
            answer: heapless::Vec::new(),
        });
        if let Some(bad) = m.bad_critical_option() {
            self.stats.bad_options += 1;
            let request = Request { peer, message: m };
            let mut text = [0u8; 24];
            let diagnostic = diagnostic(&mut text, bad.0);
            return match self.respond(now, &request, Code::BAD_OPTION, |_| Ok(()), diagnostic) {
                Ok(bytes) => Incoming::Reply(bytes),
                Err(_) => Incoming::Ignored,
            };
        }
        self.stats.requests += 1;
        Incoming::Request(Request { peer, message: m })
    }

    /// Answers `request` with `code`, the options `options` adds and `payload`: piggy-backed in
    /// the ACK of a CON, or a NON response to a NON. Returns the bytes to send to the peer,
    /// kept to answer the request's duplicates.
    pub fn respond(
        &mut self,
        now: u64,
        request: &Request<'_, P>,
        code: Code,
        options: impl FnOnce(&mut Builder<'_>) -> Result<(), BuildError>,
        payload: &[u8],
    ) -> Result<&[u8], BuildError> {
        let m = &request.message;
        let (ty, id) = match m.ty {
            Type::Con => (Type::Ack, m.message_id),
            _ => (Type::Non, self.fresh_message_id()),
        };
        let mut b = Builder::new(&mut self.scratch, ty, code, id, m.token)?;
        options(&mut b)?;
        let len = b.payload(payload)?.len();
        self.expire(now);
        let entry = self.cache.iter_mut().find(|c| c.peer == request.peer && c.message_id == m.message_id);
        match entry {
            Some(c) => {
                c.answer.clear();
                // The scratch buffer and the entry have the same capacity.
                let _ = c.answer.extend_from_slice(&self.scratch[..len]);
                Ok(&c.answer)
            }
            // Forgotten meanwhile (evicted): answered all the same, just not cached.
            None => Ok(&self.scratch[..len]),
        }
    }

    /// Accepts `request` now and answers it later ([`Server::respond_later`]): for a CON, the
    /// empty ACK to send now (so the client stops retransmitting; kept, so a duplicate gets it
    /// again); for a NON, nothing.
    pub fn accept(&mut self, request: &Request<'_, P>) -> Option<&[u8]> {
        let m = &request.message;
        if m.ty != Type::Con {
            return None;
        }
        let mut buf = [0u8; 4];
        let ack = Builder::new(&mut buf, Type::Ack, Code::EMPTY, m.message_id, &[]).ok()?.finish();
        let entry = self.cache.iter_mut().find(|c| c.peer == request.peer && c.message_id == m.message_id)?;
        entry.answer.clear();
        entry.answer.extend_from_slice(ack).ok()?;
        Some(&entry.answer)
    }

    /// The response to an accepted request, as a confirmable message of its own (token
    /// `token`), retransmitted until `peer` acknowledges it ([`Incoming::Acknowledged`]) or
    /// [`Server::handle_timeout`] gives up; `random` draws its first timeout. Returns its
    /// Message ID and the bytes to send now.
    #[allow(clippy::too_many_arguments)]
    pub fn respond_later(
        &mut self,
        now: u64,
        peer: P,
        token: &[u8],
        code: Code,
        options: impl FnOnce(&mut Builder<'_>) -> Result<(), BuildError>,
        payload: &[u8],
        random: u32,
    ) -> Result<(u16, &[u8]), SeparateError> {
        if self.outgoing.is_full() {
            return Err(SeparateError::Busy);
        }
        let message_id = self.fresh_message_id();
        let mut b = Builder::new(&mut self.scratch, Type::Con, code, message_id, token)?;
        options(&mut b)?;
        let len = b.payload(payload)?.len();
        self.track(now, peer, message_id, len, random, false)?;
        Ok((message_id, &self.scratch[..len]))
    }

    /// The next Message ID for a message this side starts.
    fn fresh_message_id(&mut self) -> u16 {
        self.next_message_id = self.next_message_id.wrapping_add(1);
        self.next_message_id
    }

    /// Keeps the confirmable message of `len` bytes in the scratch buffer for retransmission to
    /// `peer` until it is acknowledged (`send`: also send it at the next `poll_transmit`).
    fn track(
        &mut self,
        now: u64,
        peer: P,
        message_id: u16,
        len: usize,
        random: u32,
        send: bool,
    ) -> Result<(), BuildError> {
        let bytes =
            heapless::Vec::from_slice(&self.scratch[..len]).map_err(|_| BuildError::BufferTooSmall)?;
        let tx = Transmission::start(now, &self.params, random);
        let _ = self.outgoing.push(Outgoing { peer, message_id, tx, send, bytes });
        Ok(())
    }

    /// The next retransmission of a separate response to send, and to whom.
    pub fn poll_transmit(&mut self) -> Option<(P, &[u8])> {
        if let Some((peer, bytes)) = self.notices.pop_front() {
            self.scratch[..bytes.len()].copy_from_slice(&bytes);
            return Some((peer, &self.scratch[..bytes.len()]));
        }
        let o = self.outgoing.iter_mut().find(|o| o.send)?;
        o.send = false;
        Some((o.peer, &o.bytes))
    }

    /// When [`Server::handle_timeout`] should run next.
    pub fn next_timeout(&self) -> Option<u64> {
        self.outgoing.iter().map(|o| o.tx.next_at()).min()
    }

    /// Runs the retransmission timers; returns a separate response given up on (call again
    /// until `None`).
    pub fn handle_timeout(&mut self, now: u64) -> Option<Unacknowledged<P>> {
        let mut gave_up = None;
        for (i, o) in self.outgoing.iter_mut().enumerate() {
            match o.tx.on_timeout(now) {
                Some(Due::Retransmit(_)) => o.send = true,
                Some(Due::GiveUp) => {
                    gave_up = Some(i);
                    break;
                }
                None => {}
            }
        }
        let o = self.outgoing.swap_remove(gave_up?);
        // An observer that does not acknowledge a notification is gone (RFC 7641 §4.5).
        self.forget_observer(o.peer, o.message_id);
        Some(Unacknowledged { peer: o.peer, message_id: o.message_id })
    }

    fn expire(&mut self, now: u64) {
        while self.cache.front().is_some_and(|c| c.until <= now) {
            self.cache.pop_front();
        }
    }

    fn empty(&mut self, ty: Type, id: u16) -> Incoming<'static, '_, P> {
        match Builder::new(&mut self.scratch, ty, Code::EMPTY, id, &[]) {
            Ok(b) => Incoming::Reply(b.finish()),
            Err(_) => Incoming::Ignored,
        }
    }
}

/// "bad option N": the diagnostic payload of a 4.02 (§5.5.2).
fn diagnostic(buf: &mut [u8; 24], number: u16) -> &[u8] {
    let prefix = b"bad option ";
    buf[..prefix.len()].copy_from_slice(prefix);
    let mut digits = [0u8; 5];
    let mut n = number;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let d = &digits[i..];
    buf[prefix.len()..prefix.len() + d.len()].copy_from_slice(d);
    &buf[..prefix.len() + d.len()]
}

mod blocks;
mod observers;
#[cfg(test)]
mod tests;

pub use blocks::{Assembly, Gathered, block2_of, size2_of};

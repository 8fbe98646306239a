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
use super::message::{BuildError, Builder, Message, Type};
use super::reliability::Params;

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
    /// Nothing to do (a NON that is not a request, an ACK or RST this side does not track, a
    /// duplicate whose answer is not ready, a malformed non-confirmable datagram).
    Ignored,
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
pub struct Server<P, const N: usize, const M: usize> {
    params: Params,
    cache: heapless::Deque<Cached<P, M>, N>,
    scratch: [u8; M],
    next_message_id: u16,
    stats: Stats,
}

impl<P: Copy + Eq, const N: usize, const M: usize> Server<P, N, M> {
    /// A server; `seed` (from the platform's random source) starts its Message IDs.
    pub fn new(params: Params, seed: u16) -> Self {
        Server {
            params,
            cache: heapless::Deque::new(),
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
                return match bytes {
                    [first, _, hi, lo, ..] if first >> 6 == 1 && first >> 4 & 3 == 0 => {
                        self.empty(Type::Rst, u16::from_be_bytes([*hi, *lo]))
                    }
                    _ => Incoming::Ignored,
                };
            }
        };
        match (m.ty, m.code) {
            // A ping (§4.3) or anything confirmable that is not a request: RST.
            (Type::Con, code) if !code.is_request() => return self.empty(Type::Rst, m.message_id),
            (Type::Non, code) if !code.is_request() => return Incoming::Ignored,
            (Type::Ack | Type::Rst, _) => return Incoming::Ignored,
            _ => {}
        }
        self.expire(now);
        if let Some(i) = self.cache.iter().position(|c| c.peer == peer && c.message_id == m.message_id) {
            self.stats.duplicates += 1;
            let answer = &self.cache.iter().nth(i).map(|c| &c.answer[..]).unwrap_or(&[]);
            return if answer.is_empty() { Incoming::Ignored } else { Incoming::Reply(answer) };
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
            _ => {
                self.next_message_id = self.next_message_id.wrapping_add(1);
                (Type::Non, self.next_message_id)
            }
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

#[cfg(test)]
mod tests;

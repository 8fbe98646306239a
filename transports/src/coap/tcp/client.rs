//! The requesting side of CoAP over a stream (RFC 8323): requests and observations matched to
//! their responses by token, with no message layer under them (the stream is reliable and
//! ordered). Every frame is written into the caller's buffer for it to send.

use telemetra_core::heapless;

use super::{Connection, Frame, Received, Violation, build};
use crate::coap::client::{RequestError, Token};
use crate::coap::code::Code;
use crate::coap::message::{BuildError, Builder};
use crate::coap::observe::{DEREGISTER, REGISTER};
use crate::coap::option::{OptionNumber, uint_value};

/// What a frame from the server meant.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamEvent<'a> {
    /// The response to a request (or the first one to an observation).
    Response {
        /// The request.
        token: Token,
        /// The response.
        frame: Frame<'a>,
    },
    /// A notification of an observation the server took.
    Notification {
        /// The observation.
        token: Token,
        /// The notification.
        frame: Frame<'a>,
    },
    /// The server pinged: send [`Connection::pong`] with this token.
    Ping(&'a [u8]),
    /// Signaling that needs nothing from the caller (the server's CSM, a Pong), or a response
    /// that matched no request (counted).
    Nothing,
    /// The server releases the connection: reconnect (after `hold_off` seconds, if given).
    Release {
        /// Seconds to wait before connecting again.
        hold_off: Option<u32>,
    },
    /// The server aborted the connection.
    Abort,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    token: Token,
    observe: bool,
    observing: bool,
}

/// The client side of one connection: at most `N` requests and observations open at once.
#[derive(Debug)]
pub struct StreamClient<const N: usize> {
    connection: Connection,
    slots: heapless::Vec<Slot, N>,
    rng: u32,
    unmatched: u64,
}

impl<const N: usize> StreamClient<N> {
    /// A client taking messages of up to `max_message_size` bytes; `seed` (from the platform's
    /// random source) starts its tokens.
    pub fn new(max_message_size: usize, seed: u32) -> Self {
        StreamClient {
            connection: Connection::new(max_message_size),
            slots: heapless::Vec::new(),
            rng: seed | 1,
            unmatched: 0,
        }
    }

    /// The connection's signaling state (the peer's limits).
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Requests and observations open.
    pub fn outstanding(&self) -> usize {
        self.slots.len()
    }

    /// Responses that matched no open request.
    pub fn unmatched(&self) -> u64 {
        self.unmatched
    }

    /// This side's CSM: the first frame to send on a new connection.
    pub fn csm<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], BuildError> {
        self.connection.csm(buf)
    }

    fn token(&mut self) -> Token {
        loop {
            let t = Token(crate::coap::xorshift(&mut self.rng).to_be_bytes());
            if !self.slots.iter().any(|s| s.token == t) {
                return t;
            }
        }
    }

    /// A request: its token, and the frame to send (written into `buf`).
    pub fn request<'b>(
        &mut self,
        buf: &'b mut [u8],
        code: Code,
        options: impl FnOnce(&mut Builder<'_>) -> Result<(), BuildError>,
        payload: &[u8],
    ) -> Result<(Token, &'b [u8]), RequestError> {
        self.start(buf, code, None, None, options, payload)
    }

    /// An observation (a GET with Observe 0, added before `options`' options).
    pub fn observe<'b>(
        &mut self,
        buf: &'b mut [u8],
        options: impl FnOnce(&mut Builder<'_>) -> Result<(), BuildError>,
    ) -> Result<(Token, &'b [u8]), RequestError> {
        self.observe_with(buf, Code::GET, options, &[])
    }

    /// [`StreamClient::observe`] with another method and a payload (FETCH, or the outer
    /// method of an OSCORE-protected registration).
    pub fn observe_with<'b>(
        &mut self,
        buf: &'b mut [u8],
        code: Code,
        options: impl FnOnce(&mut Builder<'_>) -> Result<(), BuildError>,
        payload: &[u8],
    ) -> Result<(Token, &'b [u8]), RequestError> {
        self.start(buf, code, None, Some(REGISTER), options, payload)
    }

    /// Cancels an observation by a GET with Observe 1 and its token (`options` as when it was
    /// registered); `Ok(None)` if there is no such observation.
    pub fn cancel<'b>(
        &mut self,
        buf: &'b mut [u8],
        token: Token,
        options: impl FnOnce(&mut Builder<'_>) -> Result<(), BuildError>,
    ) -> Result<Option<&'b [u8]>, RequestError> {
        let Some(i) = self.slots.iter().position(|s| s.token == token && s.observe) else { return Ok(None) };
        self.slots.swap_remove(i);
        let (_, bytes) = self.start(buf, Code::GET, Some(token), Some(DEREGISTER), options, &[])?;
        Ok(Some(bytes))
    }

    /// Forgets a request or observation: what comes for it later is counted as unmatched.
    pub fn forget(&mut self, token: Token) -> bool {
        let at = self.slots.iter().position(|s| s.token == token);
        at.map(|i| self.slots.swap_remove(i)).is_some()
    }

    #[allow(clippy::too_many_arguments)]
    fn start<'b>(
        &mut self,
        buf: &'b mut [u8],
        code: Code,
        token: Option<Token>,
        observe: Option<u32>,
        options: impl FnOnce(&mut Builder<'_>) -> Result<(), BuildError>,
        payload: &[u8],
    ) -> Result<(Token, &'b [u8]), RequestError> {
        if !code.is_request() {
            return Err(RequestError::NotARequest);
        }
        if self.slots.is_full() {
            return Err(RequestError::Busy);
        }
        let token = token.unwrap_or_else(|| self.token());
        let bytes = build(
            buf,
            code,
            &token.0,
            |b| {
                if let Some(v) = observe {
                    b.uint_option(OptionNumber::OBSERVE, v)?;
                }
                options(b)
            },
            payload,
        )?;
        if bytes.len() > self.connection.peer_max_message_size() {
            return Err(RequestError::Build(BuildError::BufferTooSmall));
        }
        let _ = self.slots.push(Slot { token, observe: observe == Some(REGISTER), observing: false });
        Ok((token, bytes))
    }

    /// Takes a frame from the server. An error is a protocol violation: abort the connection.
    pub fn on_frame<'a>(&mut self, frame: Frame<'a>) -> Result<StreamEvent<'a>, Violation> {
        let frame = match self.connection.on_frame(frame)? {
            Received::Message(f) => f,
            Received::Ping => return Ok(StreamEvent::Ping(frame.token)),
            Received::Release { hold_off } => return Ok(StreamEvent::Release { hold_off }),
            Received::Abort => return Ok(StreamEvent::Abort),
            Received::Capabilities | Received::Pong | Received::Ignored => return Ok(StreamEvent::Nothing),
        };
        let found =
            frame.code.is_response().then(|| self.slots.iter().position(|s| s.token.0[..] == *frame.token));
        let Some(i) = found.flatten() else {
            self.unmatched += 1;
            return Ok(StreamEvent::Nothing);
        };
        let slot = self.slots[i];
        let observed = frame.option(OptionNumber::OBSERVE).and_then(uint_value).is_some();
        if slot.observing && observed {
            return Ok(StreamEvent::Notification { token: slot.token, frame });
        }
        if slot.observe && observed && frame.code.class() == 2 {
            self.slots[i].observing = true;
        } else {
            self.slots.swap_remove(i);
        }
        Ok(StreamEvent::Response { token: slot.token, frame })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(bytes: &[u8]) -> Frame<'_> {
        Frame::parse(bytes, 1 << 16).unwrap().unwrap().0
    }

    #[test]
    fn requests_observations_and_signals() {
        let mut c: StreamClient<4> = StreamClient::new(4096, 7);
        let (mut a, mut b) = ([0u8; 128], [0u8; 128]);
        // The server's CSM first.
        let csm = Connection::new(2048).csm(&mut b).unwrap().to_vec();
        assert_eq!(c.on_frame(parsed(&csm)), Ok(StreamEvent::Nothing));
        assert_eq!(c.connection().peer_max_message_size(), 2048);
        let (t, req) = c
            .request(&mut a, Code::GET, |b| b.option(OptionNumber::URI_PATH, b"x").map(|_| ()), &[])
            .unwrap();
        let req = parsed(req);
        let resp = build(&mut b, Code::CONTENT, req.token, |_| Ok(()), b"1").unwrap().to_vec();
        assert!(
            matches!(c.on_frame(parsed(&resp)), Ok(StreamEvent::Response { token, frame }) if token == t && frame.payload == b"1")
        );
        assert_eq!(c.outstanding(), 0);
        assert_eq!(c.on_frame(parsed(&resp)), Ok(StreamEvent::Nothing), "a second response matches nothing");
        assert_eq!(c.unmatched(), 1);
        // An observation stays open for its notifications until cancelled.
        let (t, req) = c.observe(&mut a, |_| Ok(())).unwrap();
        let token = parsed(req).token.to_vec();
        let note = |b: &mut [u8; 128], n: u32| {
            build(b, Code::CONTENT, &token, |o| o.uint_option(OptionNumber::OBSERVE, n).map(|_| ()), b"s")
                .unwrap()
                .to_vec()
        };
        assert!(matches!(c.on_frame(parsed(&note(&mut b, 5))), Ok(StreamEvent::Response { .. })));
        assert!(
            matches!(c.on_frame(parsed(&note(&mut b, 6))), Ok(StreamEvent::Notification { token, .. }) if token == t)
        );
        let off = c.cancel(&mut a, t, |_| Ok(())).unwrap().unwrap().to_vec();
        assert_eq!(uint_value(parsed(&off).option(OptionNumber::OBSERVE).unwrap()), Some(1));
        // Ping: answered by the caller with a Pong of the same token.
        let ping = Connection::ping(&mut b, &[3]).unwrap().to_vec();
        assert_eq!(c.on_frame(parsed(&ping)), Ok(StreamEvent::Ping(&[3])));
    }

    #[test]
    fn a_request_over_the_peers_limit_is_refused() {
        let mut c: StreamClient<4> = StreamClient::new(4096, 7);
        let mut a = [0u8; 4096];
        let big = [0u8; 2000];
        assert!(c.request(&mut a, Code::POST, |_| Ok(()), &big).is_err(), "1152 until the CSM says more");
        assert_eq!(c.outstanding(), 0);
    }
}

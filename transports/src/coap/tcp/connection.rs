//! The signaling of one connection (RFC 8323 §5): each side's Capabilities and Settings
//! Message (CSM) first, the peer's limits kept, Ping answered by Pong, Release and Abort.

use super::{DEFAULT_MAX_MESSAGE_SIZE, Frame, build, signal};
use crate::coap::code::Code;
use crate::coap::message::BuildError;
use crate::coap::option::{OptionNumber, uint_value};

/// What a frame from the peer means.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Received<'a> {
    /// A request or response, for the application.
    Message(Frame<'a>),
    /// The peer's CSM: its limits are in force from now ([`Connection::peer_max_message_size`]).
    Capabilities,
    /// A Ping: send the Pong [`Connection::pong`] writes (with the Ping's token).
    Ping,
    /// The Pong to a Ping of this side.
    Pong,
    /// The peer is closing gracefully: no new requests on this connection; connect again after
    /// `hold_off` seconds (if it said).
    Release {
        /// Seconds to wait before connecting again.
        hold_off: Option<u32>,
    },
    /// The peer aborted the connection (its diagnostic is the frame's payload).
    Abort,
    /// An Empty message (0.00), which carries nothing (§3.4).
    Ignored,
}

/// A frame that breaks the protocol: abort the connection ([`Connection::abort`]) and close it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// The peer's first message was not a CSM (§5.3).
    #[error("the peer's first message is not a CSM")]
    NoCsmFirst,
    /// A signaling code this side does not know (7.00, 7.06 to 7.31).
    #[error("unknown signal {0}")]
    UnknownSignal(Code),
    /// A critical option in a signal that this side does not know (§5.3: a connection error).
    #[error("unknown critical option {} in a signal", .0.0)]
    CriticalSignalOption(OptionNumber),
}

/// One connection's signaling state.
///
/// ```
/// use telemetra_transports::coap::tcp::{self, Connection, Frame, Received};
///
/// let (mut a, mut b) = (Connection::new(1152), Connection::new(8192));
/// let mut buf = [0u8; 32];
/// let csm = b.csm(&mut buf).unwrap().to_vec();
/// let (frame, _) = Frame::parse(&csm, 1152).unwrap().unwrap();
/// assert_eq!(a.on_frame(frame), Ok(Received::Capabilities));
/// assert_eq!(a.peer_max_message_size(), 8192);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Connection {
    max_message_size: usize,
    peer_max_message_size: usize,
    peer_block_wise: bool,
    csm_received: bool,
}

impl Connection {
    /// A connection on which this side takes messages of up to `max_message_size` bytes.
    pub const fn new(max_message_size: usize) -> Connection {
        Connection {
            max_message_size,
            peer_max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            peer_block_wise: false,
            csm_received: false,
        }
    }

    /// The largest message this side takes (for [`Frame::parse`]).
    pub const fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// The largest message the peer takes (1152 until its CSM says).
    pub const fn peer_max_message_size(&self) -> usize {
        self.peer_max_message_size
    }

    /// The peer said it does block-wise transfers (and BERT).
    pub const fn peer_block_wise(&self) -> bool {
        self.peer_block_wise
    }

    /// The peer's CSM has arrived.
    pub const fn established(&self) -> bool {
        self.csm_received
    }

    /// This side's CSM, the first thing to send: its Max-Message-Size. It does not offer
    /// Block-Wise-Transfer, which would let the peer send BERT blocks (RFC 8323 §6: several
    /// 1024-byte blocks in one message, SZX 7), not supported here; plain block-wise
    /// transfers work without it.
    pub fn csm<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], BuildError> {
        let max = u32::try_from(self.max_message_size).unwrap_or(u32::MAX);
        build(buf, Code::CSM, &[], |b| b.uint_option(signal::MAX_MESSAGE_SIZE, max).map(|_| ()), &[])
    }

    /// A Ping with `token` (its Pong comes back with it).
    pub fn ping<'b>(buf: &'b mut [u8], token: &[u8]) -> Result<&'b [u8], BuildError> {
        build(buf, Code::PING, token, |_| Ok(()), &[])
    }

    /// The Pong to a Ping with `token`.
    pub fn pong<'b>(buf: &'b mut [u8], token: &[u8]) -> Result<&'b [u8], BuildError> {
        build(buf, Code::PONG, token, |_| Ok(()), &[])
    }

    /// A Release: this side closes gracefully.
    pub fn release(buf: &mut [u8]) -> Result<&[u8], BuildError> {
        build(buf, Code::RELEASE, &[], |_| Ok(()), &[])
    }

    /// An Abort with a diagnostic, before closing after a [`Violation`] or a bad frame.
    pub fn abort<'b>(buf: &'b mut [u8], diagnostic: &[u8]) -> Result<&'b [u8], BuildError> {
        build(buf, Code::ABORT, &[], |_| Ok(()), diagnostic)
    }

    /// What `frame` from the peer means; an error is a reason to abort.
    pub fn on_frame<'a>(&mut self, frame: Frame<'a>) -> Result<Received<'a>, Violation> {
        if !self.csm_received && frame.code != Code::CSM && frame.code != Code::ABORT {
            return Err(Violation::NoCsmFirst);
        }
        if !frame.code.is_signaling() {
            return Ok(if frame.code.is_empty() { Received::Ignored } else { Received::Message(frame) });
        }
        // In a signal, option numbers mean something per signal; even ones are elective.
        let known: &[OptionNumber] = match frame.code {
            Code::CSM => &[signal::MAX_MESSAGE_SIZE, signal::BLOCK_WISE_TRANSFER],
            Code::PING | Code::PONG => &[signal::CUSTODY],
            Code::RELEASE => &[signal::ALTERNATIVE_ADDRESS, signal::HOLD_OFF],
            Code::ABORT => &[signal::BAD_CSM_OPTION],
            other => return Err(Violation::UnknownSignal(other)),
        };
        if let Some((n, _)) = frame.options().find(|(n, _)| n.is_critical() && !known.contains(n)) {
            return Err(Violation::CriticalSignalOption(n));
        }
        Ok(match frame.code {
            Code::CSM => {
                if let Some(max) = frame.option(signal::MAX_MESSAGE_SIZE).and_then(uint_value) {
                    self.peer_max_message_size = max as usize;
                }
                self.peer_block_wise |= frame.option(signal::BLOCK_WISE_TRANSFER).is_some();
                self.csm_received = true;
                Received::Capabilities
            }
            Code::PING => Received::Ping,
            Code::PONG => Received::Pong,
            Code::RELEASE => {
                Received::Release { hold_off: frame.option(signal::HOLD_OFF).and_then(uint_value) }
            }
            _ => Received::Abort,
        })
    }
}

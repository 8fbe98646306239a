//! CoAP over reliable transports (RFC 8323): TCP, and TLS on top of it (`coap+tcp://`,
//! `coaps+tcp://`). The stream does what UDP's message layer did: no type, no Message ID, no
//! retransmission or deduplication; a frame is a length, a token, a code, options and a
//! payload (§3.2). Signaling messages (class 7, §5) set up and tend the connection: CSM first
//! from each side, Ping/Pong, Release, Abort.
//!
//! Sans-IO and `no_std`: [`Frame::parse`] finds a frame at the front of the bytes received so
//! far (or says more are needed); [`build`] writes one into a caller's buffer; [`Connection`]
//! keeps the signaling state and says what each frame means.
//!
//! ```
//! use telemetra_transports::coap::tcp::{self, Frame};
//! use telemetra_transports::coap::{Code, OptionNumber};
//!
//! let mut buf = [0u8; 64];
//! let bytes = tcp::build(&mut buf, Code::GET, &[7], |b| { b.option(OptionNumber::URI_PATH, b"t")?; Ok(()) }, &[]).unwrap();
//! // Len 2 (the Uri-Path option), TKL 1; the code; the token; the option.
//! assert_eq!(bytes, [0x21, 0x01, 7, 0xb1, b't']);
//! // A stream delivers it in pieces: the first three bytes are not a frame yet.
//! assert!(Frame::parse(&bytes[..3], 1152).unwrap().is_none());
//! let (frame, used) = Frame::parse(bytes, 1152).unwrap().unwrap();
//! assert_eq!((frame.code, frame.token, used), (Code::GET, &[7][..], 5));
//! ```

mod client;
mod connection;

pub use client::{StreamClient, StreamEvent};
pub use connection::{Connection, Received, Violation};

use super::code::Code;
use super::message::{
    BuildError, Builder, FormatError, MAX_TOKEN, Options, Type, bad_critical_option, split_body,
};
use super::option::OptionNumber;

/// The message size a peer takes until its CSM says otherwise (§5.3.1).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1152;

/// The options of signaling messages, whose numbers mean something per signal (§5).
pub mod signal {
    use super::OptionNumber;

    /// CSM: the largest message the sender takes (uint).
    pub const MAX_MESSAGE_SIZE: OptionNumber = OptionNumber(2);
    /// CSM: the sender does block-wise transfers (empty).
    pub const BLOCK_WISE_TRANSFER: OptionNumber = OptionNumber(4);
    /// Ping and Pong: answer only once the messages before are processed (empty).
    pub const CUSTODY: OptionNumber = OptionNumber(2);
    /// Release: where to connect instead (string).
    pub const ALTERNATIVE_ADDRESS: OptionNumber = OptionNumber(2);
    /// Release: seconds to wait before connecting again (uint).
    pub const HOLD_OFF: OptionNumber = OptionNumber(4);
    /// Abort: the CSM option that could not be honoured (uint).
    pub const BAD_CSM_OPTION: OptionNumber = OptionNumber(2);
}

/// Why the bytes at the front of a stream are not a frame. A stream has no way to find the next
/// frame after a broken one: the connection is aborted (7.05 Abort, then closed).
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A token length of 9 to 15 (reserved).
    #[error("token length {0} is reserved")]
    TokenLength(u8),
    /// The frame is larger than this side takes (its CSM's Max-Message-Size).
    #[error("a frame of {size} bytes is over the {max}-byte limit")]
    TooLarge {
        /// The frame's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The options or the payload marker are malformed.
    #[error(transparent)]
    Format(#[from] FormatError),
}

/// One frame read from a stream: code, token, options, payload.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Frame<'a> {
    /// The request method, response code, or signal (7.01 CSM to 7.05 Abort).
    pub code: Code,
    /// The token: matches a response to its request, a Pong to its Ping.
    pub token: &'a [u8],
    options: &'a [u8],
    /// The payload (empty when there is none).
    pub payload: &'a [u8],
}

/// Reads an extended length: the nibble and the bytes after it (§3.2).
fn extended_len(nibble: u8, bytes: &[u8]) -> Option<(usize, usize)> {
    Some(match nibble {
        0..=12 => (usize::from(nibble), 0),
        13 => (usize::from(*bytes.first()?) + 13, 1),
        14 => (usize::from(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?])) + 269, 2),
        _ => {
            let b = bytes.get(..4)?;
            (u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize + 65805, 4)
        }
    })
}

impl<'a> Frame<'a> {
    /// Finds the frame at the front of `bytes`: `Ok(None)` while more bytes are needed, else
    /// the frame and how many bytes it took. A frame over `max_size` bytes (options and
    /// payload) is refused as soon as its header says so, before its bytes arrive.
    pub fn parse(bytes: &'a [u8], max_size: usize) -> Result<Option<(Frame<'a>, usize)>, FrameError> {
        let Some(&first) = bytes.first() else { return Ok(None) };
        let tkl = first & 0x0f;
        if usize::from(tkl) > MAX_TOKEN {
            return Err(FrameError::TokenLength(tkl));
        }
        let Some((len, ext)) = extended_len(first >> 4, &bytes[1..]) else { return Ok(None) };
        if len > max_size {
            return Err(FrameError::TooLarge { size: len, max: max_size });
        }
        let head = 1 + ext + 1 + usize::from(tkl);
        let total = head + len;
        if bytes.len() < total {
            return Ok(None);
        }
        let code = Code(bytes[1 + ext]);
        let token = &bytes[2 + ext..head];
        let (options, payload) = split_body(&bytes[head..total])?;
        Ok(Some((Frame { code, token, options, payload }, total)))
    }

    /// The options in order, each number with its value.
    pub fn options(&self) -> Options<'a> {
        Options::over(self.options)
    }

    /// The first value of option `number`.
    pub fn option(&self, number: OptionNumber) -> Option<&'a [u8]> {
        self.options().find(|(n, _)| *n == number).map(|(_, v)| v)
    }

    /// The frame as the request/response layer sees a message, to share code with UDP
    /// (type NON and Message ID 0 stand in: a stream has neither).
    pub fn to_message(self) -> super::Message<'a> {
        super::Message::from_parts(self.code, self.token, self.options, self.payload)
    }

    /// As [`Message::bad_critical_option`](super::Message::bad_critical_option), for requests
    /// and responses (a signal's options are numbered per signal: see [`Connection`]).
    pub fn bad_critical_option(&self) -> Option<OptionNumber> {
        bad_critical_option(self.options())
    }
}

/// Writes one frame into `buf`: `code`, `token`, the options `options` adds (in order), the
/// payload. Returns its bytes (at the end of `buf`'s written part, not necessarily at its start).
pub fn build<'b>(
    buf: &'b mut [u8],
    code: Code,
    token: &[u8],
    options: impl FnOnce(&mut Builder<'_>) -> Result<(), BuildError>,
    payload: &[u8],
) -> Result<&'b [u8], BuildError> {
    // Built as a UDP message two bytes in (its four-byte header then gives way to the stream's
    // header, which is at most six bytes: one, four of extended length, the code).
    let udp_len = {
        let mut b =
            Builder::new(buf.get_mut(2..).ok_or(BuildError::BufferTooSmall)?, Type::Non, code, 0, token)?;
        options(&mut b)?;
        b.payload(payload)?.len()
    };
    // Options and payload: the UDP message less its header and token.
    let len = udp_len - 4 - token.len();
    let (nibble, ext_bytes, ext): (u8, [u8; 4], usize) = match len {
        0..=12 => (len as u8, [0; 4], 0),
        13..=268 => (13, [(len - 13) as u8, 0, 0, 0], 1),
        269..=65804 => {
            let v = ((len - 269) as u16).to_be_bytes();
            (14, [v[0], v[1], 0, 0], 2)
        }
        _ => (15, u32::try_from(len - 65805).map_err(|_| BuildError::BufferTooSmall)?.to_be_bytes(), 4),
    };
    // The token stays where the UDP header put it (bytes 6..); the stream's header ends there.
    let start = 4 - ext;
    buf[start] = nibble << 4 | token.len() as u8;
    buf[start + 1..start + 1 + ext].copy_from_slice(&ext_bytes[..ext]);
    buf[5] = code.0;
    Ok(&buf[start..2 + udp_len])
}

#[cfg(test)]
mod tests;

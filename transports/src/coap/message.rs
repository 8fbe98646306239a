//! The message format of RFC 7252 §3 over untrusted bytes: a view that checks everything once
//! ([`Message::parse`]) and then reads without failing, and a builder that writes into a
//! caller's buffer ([`Builder`]). Neither allocates.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |Ver| T |  TKL  |      Code     |          Message ID           |
//! |   Token (if any, TKL bytes) ...
//! |   Options (if any) ...
//! |1 1 1 1 1 1 1 1|    Payload (if any) ...
//! ```

use super::code::Code;
use super::option::OptionNumber;

/// The message type (§3).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Type {
    /// Confirmable: retransmitted until acknowledged.
    Con,
    /// Non-confirmable.
    Non,
    /// Acknowledgement of a confirmable message.
    Ack,
    /// Reset: the recipient could not process a message.
    Rst,
}

impl Type {
    const fn bits(self) -> u8 {
        match self {
            Type::Con => 0,
            Type::Non => 1,
            Type::Ack => 2,
            Type::Rst => 3,
        }
    }

    const fn from_bits(b: u8) -> Type {
        match b & 3 {
            0 => Type::Con,
            1 => Type::Non,
            2 => Type::Ack,
            _ => Type::Rst,
        }
    }
}

/// The longest token (§3: TKL 9 to 15 are reserved).
pub const MAX_TOKEN: usize = 8;

/// Why bytes are not a CoAP message (§3, §4.1: a message format error; the recipient answers a
/// confirmable one with RST, or silently ignores it).
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// Fewer than the 4 header bytes.
    #[error("shorter than the 4-byte header")]
    TooShort,
    /// A version other than 1 (such a message is silently ignored, §3).
    #[error("version {0}, not 1")]
    Version(u8),
    /// A token length of 9 to 15.
    #[error("token length {0} is reserved")]
    TokenLength(u8),
    /// The token, an option or its extended fields run past the end.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// An option delta or length nibble of 15 that is not the payload marker.
    #[error("option nibble 15 outside the payload marker")]
    ReservedNibble,
    /// An option number above 65535.
    #[error("option number above 65535")]
    OptionNumber,
    /// The payload marker followed by no payload.
    #[error("payload marker with an empty payload")]
    EmptyPayload,
    /// An Empty message (code 0.00) with a token, options or a payload (§4.1).
    #[error("an Empty message with more than the header")]
    NotEmpty,
}

/// A parsed message: the header read, the token, options and payload located and checked.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Message<'a> {
    /// CON, NON, ACK or RST.
    pub ty: Type,
    /// The request method or response code.
    pub code: Code,
    /// The Message ID: matches an ACK or RST to its message, and finds duplicates.
    pub message_id: u16,
    /// The token: matches a response to its request.
    pub token: &'a [u8],
    options: &'a [u8],
    /// The payload (empty when there is none).
    pub payload: &'a [u8],
}

impl<'a> Message<'a> {
    /// Checks `bytes` as one message (a whole UDP datagram).
    pub fn parse(bytes: &'a [u8]) -> Result<Message<'a>, FormatError> {
        let [first, code, id_hi, id_lo, rest @ ..] = bytes else { return Err(FormatError::TooShort) };
        if first >> 6 != 1 {
            return Err(FormatError::Version(first >> 6));
        }
        let tkl = first & 0x0f;
        if usize::from(tkl) > MAX_TOKEN {
            return Err(FormatError::TokenLength(tkl));
        }
        let (token, rest) = rest.split_at_checked(usize::from(tkl)).ok_or(FormatError::Truncated("token"))?;
        let code = Code(*code);
        let (options, payload) = split_body(rest)?;
        if code.is_empty() && (tkl != 0 || !rest.is_empty()) {
            return Err(FormatError::NotEmpty);
        }
        Ok(Message {
            ty: Type::from_bits(first >> 4),
            code,
            message_id: u16::from_be_bytes([*id_hi, *id_lo]),
            token,
            options,
            payload,
        })
    }

    /// The options in order, each number with its value.
    pub fn options(&self) -> Options<'a> {
        Options::over(self.options)
    }

    /// A message of parts checked elsewhere (a stream frame seen by the request/response
    /// layer: no type or Message ID of its own, NON and 0 stand in).
    pub(crate) fn from_parts(
        code: Code,
        token: &'a [u8],
        options: &'a [u8],
        payload: &'a [u8],
    ) -> Message<'a> {
        Message { ty: Type::Non, code, message_id: 0, token, options, payload }
    }

    /// The first value of option `number`.
    pub fn option(&self, number: OptionNumber) -> Option<&'a [u8]> {
        self.options().find(|(n, _)| *n == number).map(|(_, v)| v)
    }

    /// The first critical option in this message that this implementation does not know, or
    /// that breaks its definition (a length out of range, a non-repeatable one repeated:
    /// §5.4.3 and §5.4.5 treat those as unrecognised). A request with one is answered 4.02 Bad
    /// Option; a response with one is rejected (§5.4.1).
    pub fn bad_critical_option(&self) -> Option<OptionNumber> {
        bad_critical_option(self.options())
    }
}

/// The first critical option of `options` that is unknown or breaks its definition.
pub(crate) fn bad_critical_option(options: Options<'_>) -> Option<OptionNumber> {
    let mut last = None;
    for (n, v) in options {
        let repeated = last == Some(n);
        last = Some(n);
        if !n.is_critical() {
            continue;
        }
        let ok = match n.definition() {
            None => false,
            Some(d) => {
                (d.min_len as usize..=d.max_len as usize).contains(&v.len()) && (d.repeatable || !repeated)
            }
        };
        if !ok {
            return Some(n);
        }
    }
    None
}

/// Splits what follows the token into the options (checked) and the payload.
pub(crate) fn split_body(rest: &[u8]) -> Result<(&[u8], &[u8]), FormatError> {
    let options_len = scan_options(rest)?;
    let (options, after) = rest.split_at(options_len);
    let payload = match after {
        [] => after,
        [0xff] => return Err(FormatError::EmptyPayload),
        [0xff, payload @ ..] => payload,
        // `scan_options` stops only at the end or at the marker.
        _ => return Err(FormatError::ReservedNibble),
    };
    Ok((options, payload))
}

/// The Message ID of a datagram that is not a well-formed message but whose header reads as a
/// version 1 confirmable one: such a message is rejected with an RST carrying that ID (§4.2).
pub fn confirmable_message_id(bytes: &[u8]) -> Option<u16> {
    match bytes {
        [first, _, hi, lo, ..] if first >> 6 == 1 && first >> 4 & 3 == 0 => {
            Some(u16::from_be_bytes([*hi, *lo]))
        }
        _ => None,
    }
}

/// The options of a [`Message`], in order.
#[derive(Clone, Debug)]
pub struct Options<'a> {
    rest: &'a [u8],
    number: u16,
}

impl<'a> Options<'a> {
    /// The options in `bytes`, checked by `split_body` before.
    pub(crate) fn over(bytes: &'a [u8]) -> Options<'a> {
        Options { rest: bytes, number: 0 }
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = (OptionNumber, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        // The bytes were checked by `scan_options`: reading cannot fail here.
        let (delta, len, used) = option_header(self.rest).ok()??;
        self.number = self.number.checked_add(delta)?;
        let value = self.rest.get(used..used + len)?;
        self.rest = &self.rest[used + len..];
        Some((OptionNumber(self.number), value))
    }
}

/// Reads one option header: `Ok(None)` at the end or the payload marker, else (delta, value
/// length, header bytes).
fn option_header(bytes: &[u8]) -> Result<Option<(u16, usize, usize)>, FormatError> {
    let Some(&first) = bytes.first() else { return Ok(None) };
    if first == 0xff {
        return Ok(None);
    }
    let mut used = 1;
    let mut extended = |nibble: u8| -> Result<u32, FormatError> {
        match nibble {
            0..=12 => Ok(u32::from(nibble)),
            13 => {
                let b = *bytes.get(used).ok_or(FormatError::Truncated("option"))?;
                used += 1;
                Ok(u32::from(b) + 13)
            }
            14 => {
                let b = bytes.get(used..used + 2).ok_or(FormatError::Truncated("option"))?;
                used += 2;
                Ok(u32::from(u16::from_be_bytes([b[0], b[1]])) + 269)
            }
            _ => Err(FormatError::ReservedNibble),
        }
    };
    let delta = extended(first >> 4)?;
    let len = extended(first & 0x0f)?;
    let delta = u16::try_from(delta).map_err(|_| FormatError::OptionNumber)?;
    Ok(Some((delta, len as usize, used)))
}

/// Checks the options from the start of `bytes`; returns their length (up to the payload
/// marker or the end).
fn scan_options(bytes: &[u8]) -> Result<usize, FormatError> {
    let (mut at, mut number) = (0usize, 0u16);
    while let Some((delta, len, used)) = option_header(&bytes[at..])? {
        number = number.checked_add(delta).ok_or(FormatError::OptionNumber)?;
        at += used;
        if bytes.len() - at < len {
            return Err(FormatError::Truncated("option value"));
        }
        at += len;
    }
    Ok(at)
}

/// Why a message could not be written.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The buffer is too small for what was added.
    #[error("the buffer is too small")]
    BufferTooSmall,
    /// A token longer than 8 bytes.
    #[error("a token of more than 8 bytes")]
    TokenTooLong,
    /// Options must be added in increasing order of number (equal numbers repeat the option).
    #[error("option {0} added after option {1}")]
    OptionOrder(u16, u16),
    /// An option value longer than 65804 bytes.
    #[error("an option value of more than 65804 bytes")]
    OptionTooLong,
}

/// Writes one message into a buffer: the header and token first, then options in increasing
/// order, then the payload.
///
/// ```
/// use telemetra_transports::coap::{Builder, Code, Message, OptionNumber, Type};
///
/// let mut buf = [0u8; 64];
/// let mut b = Builder::new(&mut buf, Type::Con, Code::POST, 0x7d34, &[0x2a]).unwrap();
/// b.option(OptionNumber::URI_PATH, b"tm").unwrap();
/// b.option(OptionNumber::URI_PATH, b"readings").unwrap();
/// b.uint_option(OptionNumber::CONTENT_FORMAT, 60).unwrap();
/// let bytes = b.payload(&[1, 2, 3]).unwrap();
/// let m = Message::parse(bytes).unwrap();
/// assert_eq!((m.code, m.message_id, m.token, m.payload), (Code::POST, 0x7d34, &[0x2a][..], &[1, 2, 3][..]));
/// assert_eq!(m.options().filter(|(n, _)| *n == OptionNumber::URI_PATH).count(), 2);
/// ```
#[derive(Debug)]
pub struct Builder<'b> {
    buf: &'b mut [u8],
    len: usize,
    last: u16,
}

impl<'b> Builder<'b> {
    /// Starts a message: version 1, `ty`, `code`, `message_id` and `token`.
    pub fn new(
        buf: &'b mut [u8],
        ty: Type,
        code: Code,
        message_id: u16,
        token: &[u8],
    ) -> Result<Builder<'b>, BuildError> {
        if token.len() > MAX_TOKEN {
            return Err(BuildError::TokenTooLong);
        }
        let mut b = Builder { buf, len: 0, last: 0 };
        let id = message_id.to_be_bytes();
        b.put(&[0x40 | ty.bits() << 4 | token.len() as u8, code.0, id[0], id[1]])?;
        b.put(token)?;
        Ok(b)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), BuildError> {
        let end = self.len + bytes.len();
        self.buf.get_mut(self.len..end).ok_or(BuildError::BufferTooSmall)?.copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    /// Adds option `number` with `value` (numbers in increasing order; the same number again
    /// repeats it).
    pub fn option(&mut self, number: OptionNumber, value: &[u8]) -> Result<&mut Self, BuildError> {
        if number.0 < self.last {
            return Err(BuildError::OptionOrder(number.0, self.last));
        }
        let delta = u32::from(number.0 - self.last);
        let len = u32::try_from(value.len()).map_err(|_| BuildError::OptionTooLong)?;
        if len > 65804 {
            return Err(BuildError::OptionTooLong);
        }
        let (dn, dx) = nibble(delta);
        let (ln, lx) = nibble(len);
        let start = self.len;
        self.put(&[dn << 4 | ln])?;
        let r = self.put(dx.as_slice()).and_then(|_| self.put(lx.as_slice())).and_then(|_| self.put(value));
        if r.is_err() {
            self.len = start;
            return r.map(|_| self);
        }
        self.last = number.0;
        Ok(self)
    }

    /// Adds a `uint` option in its shortest form.
    pub fn uint_option(&mut self, number: OptionNumber, value: u32) -> Result<&mut Self, BuildError> {
        let mut b = [0u8; 4];
        self.option(number, super::option::uint_bytes(value, &mut b))
    }

    /// Ends the message with `payload` (none if empty) and returns its bytes.
    pub fn payload(mut self, payload: &[u8]) -> Result<&'b [u8], BuildError> {
        if !payload.is_empty() {
            self.put(&[0xff])?;
            self.put(payload)?;
        }
        Ok(self.finish())
    }

    /// Ends the message without a payload and returns its bytes.
    pub fn finish(self) -> &'b [u8] {
        let Builder { buf, len, .. } = self;
        &buf[..len]
    }
}

/// An option header field: its nibble and its extension bytes (§3.1).
fn nibble(v: u32) -> (u8, Extension) {
    match v {
        0..=12 => (v as u8, Extension::default()),
        13..=268 => (13, Extension { bytes: [(v - 13) as u8, 0], len: 1 }),
        _ => {
            let e = ((v - 269) as u16).to_be_bytes();
            (14, Extension { bytes: e, len: 2 })
        }
    }
}

#[derive(Default)]
struct Extension {
    bytes: [u8; 2],
    len: usize,
}

impl Extension {
    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

#[cfg(test)]
mod tests;

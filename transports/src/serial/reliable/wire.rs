//! The link's packets, byte by byte. Each travels as the payload of one COBS+CRC packet of
//! `telemetra_codec::stream` (which drops it if a byte was corrupted); all integers are
//! little-endian.
//!
//! ```text
//! HELLO  01 | flags u8 | session u32 | peer session u32 | window u8 | max payload u16      13 bytes
//! DATA   02 | seq u16 | ack u16 | payload (1 to max payload bytes)                       5 + n bytes
//! ACK    03 | ack u16 | sack u32                                                            7 bytes
//! ```
//!
//! - `session`: the sender's session id, chosen at random each time it starts; `peer session`
//!   the id it last heard from the other side (0: none yet). A side whose HELLO names the
//!   receiver's current session knows it: the pair is established.
//! - `flags` bit 0: answer with a HELLO (the sender is not established yet); other bits 0.
//! - `window`: how many frames the sender holds out of order (its receive window, 1 to 32);
//!   `max payload`: the largest payload it takes.
//! - `seq`: the DATA frame's number in its direction, from 0 for each pairing of sessions,
//!   wrapping at 2^16.
//! - `ack` (on DATA and ACK): the next frame number the sender expects; every frame before it
//!   was received and taken by its application (a cumulative acknowledgement).
//! - `sack`: bit `i` set: frame `ack + i` is held (received; the application has not taken it
//!   yet, or it waits for a frame before it): a selective acknowledgement, so that the sender
//!   resends only the gaps.

/// The HELLO type byte.
const HELLO: u8 = 0x01;
/// The DATA type byte.
const DATA: u8 = 0x02;
/// The ACK type byte.
const ACK: u8 = 0x03;

/// Bytes before a DATA frame's payload.
pub const DATA_HEADER: usize = 5;
/// A HELLO's length.
pub const HELLO_LEN: usize = 13;
/// An ACK's length.
pub const ACK_LEN: usize = 7;

/// A HELLO's content.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Hello {
    /// The sender wants a HELLO back.
    pub reply: bool,
    /// The sender's session.
    pub session: u32,
    /// The session it last heard from the receiver (0: none).
    pub peer: u32,
    /// Its receive window, in frames.
    pub window: u8,
    /// The largest payload it takes.
    pub max_payload: u16,
}

/// One packet of the link.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Packet<'a> {
    /// The handshake.
    Hello(Hello),
    /// A frame, with the sender's acknowledgement of the other direction.
    Data {
        /// Its number.
        seq: u16,
        /// The next number the sender expects.
        ack: u16,
        /// The frame.
        payload: &'a [u8],
    },
    /// An acknowledgement alone (also the keep-alive).
    Ack {
        /// The next number the sender expects.
        ack: u16,
        /// Frames from `ack` on that are held (bit `i`: `ack + i`).
        sack: u32,
    },
}

/// Why bytes are not a packet.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Empty, or a type byte that is not 1, 2 or 3.
    #[error("not a link packet (type byte {0:#04x})")]
    UnknownType(u8),
    /// Shorter or longer than its type's layout, or a DATA frame without payload.
    #[error("a link packet of type {kind:#04x} cannot be {len} bytes long")]
    BadLength {
        /// The type byte.
        kind: u8,
        /// The packet's length.
        len: usize,
    },
    /// A HELLO with reserved flags set, a window of 0 or over 32, or a max payload of 0.
    #[error("a HELLO with a reserved flag, a window outside 1..=32 or a max payload of 0")]
    BadHello,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> Packet<'a> {
    /// Reads a packet (the payload of one COBS+CRC packet).
    pub fn parse(bytes: &'a [u8]) -> Result<Packet<'a>, WireError> {
        let kind = *bytes.first().ok_or(WireError::UnknownType(0))?;
        let len = bytes.len();
        let bad = WireError::BadLength { kind, len };
        match kind {
            HELLO if len == HELLO_LEN => {
                let flags = bytes[1];
                let hello = Hello {
                    reply: flags & 1 == 1,
                    session: u32_at(bytes, 2),
                    peer: u32_at(bytes, 6),
                    window: bytes[10],
                    max_payload: u16_at(bytes, 11),
                };
                let valid = flags & !1 == 0 && (1..=32).contains(&hello.window) && hello.max_payload > 0;
                valid.then_some(Packet::Hello(hello)).ok_or(WireError::BadHello)
            }
            DATA if len > DATA_HEADER => Ok(Packet::Data {
                seq: u16_at(bytes, 1),
                ack: u16_at(bytes, 3),
                payload: &bytes[DATA_HEADER..],
            }),
            ACK if len == ACK_LEN => Ok(Packet::Ack { ack: u16_at(bytes, 1), sack: u32_at(bytes, 3) }),
            HELLO | DATA | ACK => Err(bad),
            other => Err(WireError::UnknownType(other)),
        }
    }

    /// Writes the packet into `out`; returns its length, or `None` if `out` is too small.
    pub fn write(&self, out: &mut [u8]) -> Option<usize> {
        match *self {
            Packet::Hello(h) => {
                let o = out.get_mut(..HELLO_LEN)?;
                o[0] = HELLO;
                o[1] = u8::from(h.reply);
                o[2..6].copy_from_slice(&h.session.to_le_bytes());
                o[6..10].copy_from_slice(&h.peer.to_le_bytes());
                o[10] = h.window;
                o[11..13].copy_from_slice(&h.max_payload.to_le_bytes());
                Some(HELLO_LEN)
            }
            Packet::Data { seq, ack, payload } => {
                let o = out.get_mut(..DATA_HEADER + payload.len())?;
                o[0] = DATA;
                o[1..3].copy_from_slice(&seq.to_le_bytes());
                o[3..5].copy_from_slice(&ack.to_le_bytes());
                o[DATA_HEADER..].copy_from_slice(payload);
                Some(o.len())
            }
            Packet::Ack { ack, sack } => {
                let o = out.get_mut(..ACK_LEN)?;
                o[0] = ACK;
                o[1..3].copy_from_slice(&ack.to_le_bytes());
                o[3..7].copy_from_slice(&sack.to_le_bytes());
                Some(ACK_LEN)
            }
        }
    }
}

//! Why a packet of the byte-stream framing was dropped.

/// A packet from a byte stream was dropped. The decoder counts it and goes on with the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PacketError {
    /// The packet's CRC-32 does not match its contents (bit errors on the link).
    #[error("CRC mismatch in packet {packet}")]
    CrcMismatch {
        /// The packet's position in the stream, counting from 0.
        packet: u32,
    },
    /// The bytes between two delimiters are not valid COBS.
    #[error("invalid COBS encoding in packet {packet}")]
    BadCobs {
        /// The packet's position in the stream.
        packet: u32,
    },
    /// The packet is shorter than its 4-byte CRC.
    #[error("packet {packet} is too short ({len} bytes) to hold a CRC")]
    TooShort {
        /// The packet's position in the stream.
        packet: u32,
        /// Its decoded length.
        len: usize,
    },
    /// No delimiter came before the buffer filled; the bytes up to the next delimiter are
    /// discarded.
    #[error("packet {packet} exceeds the {capacity}-byte buffer and was discarded")]
    Overflow {
        /// The packet's position in the stream.
        packet: u32,
        /// The decoder's capacity.
        capacity: usize,
    },
}

//! Byte-stream framing for links without message boundaries (UART, RS-485, a TCP byte
//! stream): each payload (an encoded frame, or a link-layer packet carrying one) travels as a
//! *packet* `COBS(payload ‖ CRC-32(payload)) ‖ 0x00`.
//!
//! COBS removes every zero byte from the packet, so the zero delimiter can only mean "end of
//! packet": a receiver that starts mid-stream, or loses bytes, resynchronises at the next zero.
//! The CRC-32 (IEEE 802.3 / ISO-HDLC polynomial, little-endian) catches bit errors. The
//! overhead is 4 bytes of CRC, 1 delimiter, and 1 COBS byte per 254 bytes. [`encode_packet`]
//! (into a buffer) and [`write_packet`] (straight to a sink, no buffer) are the sending side,
//! [`PacketDecoder`] the receiving side.

mod decoder;
mod encode;
mod error;

pub use decoder::{PacketDecoder, PacketStats};
pub use encode::{CRC_LEN, encode_packet, max_packet_len, write_packet};
pub use error::PacketError;

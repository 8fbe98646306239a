//! The sending side: a payload in, one packet out.

use crate::error::EncodeError;

/// The CRC of every packet: CRC-32/ISO-HDLC (the one of Ethernet, zlib and PNG). With `std`
/// (servers, gateways) it uses a 1 KiB lookup table; without, it is computed bit by bit (no
/// table in flash, about 8 times the cycles per byte: a few microseconds for a frame on a
/// Cortex-M4, far below the time the UART takes to carry it).
#[cfg(feature = "std")]
pub(crate) const CRC: crc::Crc<u32, crc::Table<1>> =
    crc::Crc::<u32, crc::Table<1>>::new(&crc::CRC_32_ISO_HDLC);
#[cfg(not(feature = "std"))]
pub(crate) const CRC: crc::Crc<u32, crc::NoTable> = crc::Crc::<u32, crc::NoTable>::new(&crc::CRC_32_ISO_HDLC);

/// Bytes of CRC appended to each payload.
pub const CRC_LEN: usize = 4;

/// The largest packet size of a payload of `payload_len` bytes, delimiter included.
pub const fn max_packet_len(payload_len: usize) -> usize {
    cobs::max_encoding_length(payload_len + CRC_LEN) + 1
}

/// Encodes `payload` as one packet into `out`: COBS-encoded payload and CRC, then the zero delimiter.
/// Returns the number of bytes written.
///
/// ```
/// use telemetra_codec::stream::{encode_packet, max_packet_len, PacketDecoder};
/// let mut wire = [0u8; 64];
/// let n = encode_packet(b"hello", &mut wire).unwrap();
/// assert!(n <= max_packet_len(5));
/// assert!(!wire[..n - 1].contains(&0));
///
/// let mut rx = PacketDecoder::<64>::new();
/// let mut input = &wire[..n];
/// assert_eq!(rx.push(&mut input).unwrap().unwrap(), b"hello");
/// ```
pub fn encode_packet(payload: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
    let needed = max_packet_len(payload.len());
    let too_small = EncodeError::BufferTooSmall { available: out.len(), needed };
    let crc = CRC.checksum(payload).to_le_bytes();
    let body_end = {
        let mut enc = cobs::CobsEncoder::new(out);
        enc.push(payload).map_err(|_| too_small)?;
        enc.push(&crc).map_err(|_| too_small)?;
        enc.finalize()
    };
    *out.get_mut(body_end).ok_or(too_small)? = 0;
    Ok(body_end + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_framing() {
        // COBS of "hi" ‖ CRC32("hi") = 0xd8932aac, little endian ac 2a 93 d8.
        let mut out = [0u8; 16];
        let n = encode_packet(b"hi", &mut out).unwrap();
        assert_eq!(&out[..n], &[0x07, b'h', b'i', 0xac, 0x2a, 0x93, 0xd8, 0x00]);
    }

    #[test]
    fn zeros_in_the_payload_are_escaped() {
        let mut out = [0u8; 32];
        let n = encode_packet(&[0, 0, 1, 0], &mut out).unwrap();
        assert_eq!(out[..n].iter().filter(|&&b| b == 0).count(), 1);
        assert_eq!(out[n - 1], 0);
    }

    #[test]
    fn a_small_buffer_is_an_error() {
        let mut out = [0u8; 6];
        assert_eq!(
            encode_packet(b"hello", &mut out),
            Err(EncodeError::BufferTooSmall { available: 6, needed: max_packet_len(5) })
        );
    }
}

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

/// Writes `payload` as one packet to `sink`, a slice at a time, with no output buffer: the
/// same bytes as [`encode_packet`], for a firmware that writes straight to its UART (the packet
/// never sits in RAM; COBS looks ahead at most 254 bytes of the payload, which is already there).
///
/// ```
/// use telemetra_codec::stream::{encode_packet, write_packet};
/// let mut streamed = Vec::new();
/// write_packet(b"hello", |bytes| streamed.extend_from_slice(bytes));
/// let mut buf = [0u8; 32];
/// let n = encode_packet(b"hello", &mut buf).unwrap();
/// assert_eq!(streamed, &buf[..n]);
/// ```
pub fn write_packet(payload: &[u8], mut sink: impl FnMut(&[u8])) {
    let crc = CRC.checksum(payload).to_le_bytes();
    // The payload and its CRC, as one sequence in two pieces.
    let parts = [payload, &crc[..]];
    let len = payload.len() + CRC_LEN;
    let byte = |i: usize| if i < payload.len() { payload[i] } else { crc[i - payload.len()] };
    let mut at = 0;
    loop {
        // One COBS block: up to 254 non-zero bytes, led by their count plus one.
        let mut run = 0;
        while run < 254 && at + run < len && byte(at + run) != 0 {
            run += 1;
        }
        sink(&[run as u8 + 1]);
        let mut from = at;
        for part_start in [0, payload.len()] {
            let part = parts[usize::from(part_start != 0)];
            let (lo, hi) = (from.max(part_start), (at + run).min(part_start + part.len()));
            if lo < hi {
                sink(&part[lo - part_start..hi - part_start]);
                from = hi;
            }
        }
        at += run;
        if at == len {
            break;
        }
        if run < 254 {
            at += 1; // the zero this block stands for (a full block stands for none)
            if at == len {
                // A zero at the very end: one more, empty, block.
                sink(&[1]);
                break;
            }
        }
    }
    sink(&[0]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn writing_and_encoding_give_the_same_bytes(payload in proptest::collection::vec(
            prop_oneof![Just(0u8), any::<u8>(), 1u8..=255], 0..800)) {
            let mut streamed = std::vec::Vec::new();
            write_packet(&payload, |b| streamed.extend_from_slice(b));
            let mut buf = std::vec![0u8; max_packet_len(payload.len())];
            let n = encode_packet(&payload, &mut buf).unwrap();
            prop_assert_eq!(&streamed[..], &buf[..n]);
        }
    }

    #[test]
    fn long_runs_match_the_encoder_at_every_boundary() {
        for len in [0usize, 1, 249, 250, 251, 252, 253, 254, 255, 256, 507, 508, 509, 600] {
            for zero_at in [None, Some(0), Some(len / 2), Some(len.saturating_sub(1))] {
                let mut payload = std::vec![7u8; len];
                if let Some(z) = zero_at.filter(|&z| z < len) {
                    payload[z] = 0;
                }
                let mut streamed = std::vec::Vec::new();
                write_packet(&payload, |b| streamed.extend_from_slice(b));
                let mut buf = std::vec![0u8; max_packet_len(len)];
                let n = encode_packet(&payload, &mut buf).unwrap();
                assert_eq!(streamed, &buf[..n], "len {len}, zero at {zero_at:?}");
            }
        }
    }

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

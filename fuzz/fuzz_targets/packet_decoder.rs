//! Any byte stream in any chunking: the deframer never panics, never returns a payload larger
//! than its buffer, and counts every frame it drops.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetra_codec::stream::{PacketDecoder, PacketError};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else { return };
    let chunk = usize::from(chunk).max(1);
    let mut rx = PacketDecoder::<256>::new();
    let (mut ok, mut bad) = (0u32, 0u32);
    for piece in stream.chunks(chunk) {
        let mut input = piece;
        while let Some(r) = rx.push(&mut input) {
            match r {
                Ok(payload) => {
                    assert!(payload.len() <= 256);
                    ok += 1;
                }
                Err(PacketError::CrcMismatch { .. } | PacketError::BadCobs { .. } | PacketError::TooShort { .. } | PacketError::Overflow { .. }) => bad += 1,
                Err(_) => bad += 1,
            }
        }
    }
    let s = rx.stats();
    assert_eq!(s.packets, ok);
    assert_eq!(s.crc_errors + s.cobs_errors + s.too_short + s.overflows, bad);
});

//! Any bytes: batch decoding never panics and never yields more samples than the input can
//! describe; whatever decodes re-encodes and decodes to the same bits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetra_codec::batch;

fuzz_target!(|data: &[u8]| {
    if let Ok(points) = batch::decode_to_vec(data) {
        assert!(points.len() as u64 <= data.len() as u64 * 64);
        let bytes = batch::encode_to_vec(&points).expect("decoded points re-encode");
        let back = batch::decode_to_vec(&bytes).expect("a re-encoded batch decodes");
        assert_eq!(back.len(), points.len());
        for (a, b) in back.iter().zip(&points) {
            assert_eq!(a.0, b.0);
            assert_eq!(a.1.to_bits(), b.1.to_bits());
        }
    }
});

//! Any bytes as the body of a `Batch` message: an error or readings, never a panic, and no
//! more readings than the bytes can describe.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetra_codec::batch::Batch;

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = Batch::from_bytes(data) {
        let mut n = 0usize;
        let count = batch.for_each(|_| n += 1).expect("a checked batch decodes again");
        assert_eq!(n, count);
        // A value block of 128 samples takes at least 4 bytes: at most 32 samples per byte.
        assert!(n <= data.len() * 32);
    }
});

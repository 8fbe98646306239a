//! Any bytes: `Frame::decode` returns a value or an error, never panics; a value re-encodes to
//! the same bytes (the encoding is canonical for what this build writes) and within its bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetra_codec::{Frame, limits};

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = Frame::decode(data) {
        let mut buf = [0u8; limits::MAX_FRAME];
        let bytes = frame.encode(&mut buf).expect("a decoded frame re-encodes within MAX_FRAME");
        let again = Frame::decode(bytes).expect("a re-encoded frame decodes");
        let mut buf2 = [0u8; limits::MAX_FRAME];
        assert_eq!(again.encode(&mut buf2).unwrap(), bytes);
    }
});

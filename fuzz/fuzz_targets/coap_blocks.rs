//! Block-wise transfers driven by an arbitrary peer: each answer's code, Block option bytes and
//! payload length are the input's. An upload never leaves its body, never goes backwards and
//! never repeats a finished transfer; a download never takes more than its limit and only ever
//! appends right after what it has.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetra_transports::coap::Code;
use telemetra_transports::coap::block::Block;
use telemetra_transports::coap::block::transfer::{Download, Progress, Upload};

fuzz_target!(|data: &[u8]| {
    let [total_hi, total_lo, szx, rest @ ..] = data else { return };
    let total = usize::from(u16::from_be_bytes([*total_hi, *total_lo]));
    let Ok(mut up) = Upload::new(total, 16 << (szx % 7)) else { return };
    let mut down = Download::new(total);
    let (mut up_done, mut down_done, mut last_start) = (false, false, 0);
    for answer in rest.chunks(5) {
        let [code, b0, b1, b2, len] = answer else { break };
        let block = Block::decode(&[*b0, *b1, *b2]).ok();
        if !up_done {
            let (b, range) = up.block();
            assert!(range.start >= last_start && range.end <= total && range.start <= range.end);
            assert_eq!(b.offset(), range.start);
            last_start = range.start;
            match up.on_response(Code(*code), block) {
                Ok(Progress::Next) => {}
                Ok(Progress::Finished) => {
                    assert_eq!(range.end, total, "finished with the last block");
                    up_done = true;
                }
                Err(_) => up_done = true,
            }
        }
        if let (false, Some(b)) = (down_done, block) {
            let before = down.received();
            match down.on_block(b, usize::from(*len) * 4) {
                Ok(p) => {
                    assert!(down.received() >= before && down.received() <= total);
                    down_done = p == Progress::Finished;
                }
                Err(_) => assert_eq!(down.received(), before, "a refused block changes nothing"),
            }
        }
    }
});

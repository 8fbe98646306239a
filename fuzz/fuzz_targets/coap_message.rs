//! Any bytes as a CoAP datagram: the message view returns a message or a typed format error,
//! never panics; a message that parses is written back to the same bytes (the encoding is
//! canonical), and the critical-option check runs over every option.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetra_transports::coap::{Builder, Message};

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Message::parse(data) else { return };
    let _ = m.bad_critical_option();
    let mut buf = vec![0u8; data.len()];
    let mut b = Builder::new(&mut buf, m.ty, m.code, m.message_id, m.token).expect("a parsed token fits");
    for (n, v) in m.options() {
        b.option(n, v).expect("parsed options come in order and fit");
    }
    assert_eq!(b.payload(m.payload).expect("the same size"), data);
});

//! The reliable serial link fed arbitrary bytes as a stream of COBS+CRC packets (each input
//! byte stream is decoded as the driver decodes the line, then each packet handed to the
//! link, with time moving on): it never panics, never holds more than its window, and what
//! it delivers is what some packet carried.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetra_codec::stream::PacketDecoder;
use telemetra_transports::serial::reliable::{Config, ReliableLink};

fuzz_target!(|data: &[u8]| {
    let mut link = ReliableLink::<4, 32>::new(Config::default(), 0x5eed);
    let mut decoder = PacketDecoder::<64>::new();
    let mut out = [0u8; 40];
    let _ = link.send(b"queued before anything");
    let mut now = 0u64;
    let mut input = data;
    while !input.is_empty() {
        now += 7;
        if let Some(Ok(packet)) = decoder.push(&mut input) {
            link.handle_packet(now, packet);
        }
        if link.poll_timeout().is_some_and(|t| t <= now) {
            link.handle_timeout(now);
        }
        while let Some(n) = link.poll_transmit(now, &mut out) {
            assert!(n <= out.len());
        }
        while let Some((taken, frame)) = link.receive() {
            assert!(!frame.is_empty() && frame.len() <= 32);
            assert!(link.consume(taken));
        }
        assert!(link.unacknowledged() <= 4);
        while link.poll_event().is_some() {}
    }
});

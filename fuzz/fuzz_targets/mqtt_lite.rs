//! The firmware's MQTT client (`mqtt::lite`) fed arbitrary broker bytes, in arbitrary chunks,
//! in MQTT 5 and 3.1.1, with messages in flight: it never panics, an error leaves it
//! disconnected, and every byte it answers with is a well-formed packet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetra_transports::mqtt::lite::{LiteClient, LiteOptions};
use telemetra_transports::mqtt::packet::publish::{QoS, Version};
use telemetra_transports::mqtt::packet::wire::FixedHeader;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut o = LiteOptions::new("fuzz");
    o.version = if mode & 1 == 0 { Version::V5 } else { Version::V3_1_1 };
    let mut c = LiteClient::<2, 256>::new();
    c.connect(&o, 0).expect("CONNECT fits");
    let mut out = Vec::new();
    let chunk = usize::from(mode >> 1).max(1);
    for (i, part) in rest.chunks(chunk).enumerate() {
        out.extend_from_slice(c.output());
        c.clear_output();
        if c.handle_input(part, &mut |_| {}).is_err() {
            assert!(!c.is_connected());
            break;
        }
        if c.is_connected() {
            let _ = c.publish("t", b"x", QoS::ExactlyOnce, false, i as u64);
        }
        let _ = c.handle_timeout(i as u64 * 1000);
    }
    out.extend_from_slice(c.output());
    let mut bytes = &out[..];
    while !bytes.is_empty() {
        let (h, len) = FixedHeader::parse(bytes, u32::MAX).expect("our own output parses").expect("whole");
        bytes = &bytes[len + h.remaining as usize..];
    }
});

//! The sans-IO MQTT client fed arbitrary broker bytes, in arbitrary chunks, in MQTT 5 and
//! 3.1.1: it never panics, and every byte it answers with is a well-formed packet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetra_transports::mqtt::client::{Client, Message, Options};
use telemetra_transports::mqtt::packet::publish::{QoS, Version};
use telemetra_transports::mqtt::packet::wire::FixedHeader;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut o = Options::new("fuzz");
    o.version = if mode & 1 == 0 { Version::V5 } else { Version::V3_1_1 };
    o.maximum_packet_size = 4096;
    o.receive_maximum = 4;
    let mut c = Client::new(o);
    let _ = c.subscribe("a/#", QoS::ExactlyOnce);
    let _ = c.publish(Message::new("t", "x").with_qos(QoS::ExactlyOnce), 0);
    c.connect(0);
    let chunk = usize::from(mode >> 1).max(1);
    let mut out = Vec::new();
    for (i, part) in rest.chunks(chunk).enumerate() {
        if c.handle_input(part, i as u64).is_err() {
            break;
        }
        let _ = c.handle_timeout(i as u64 * 1000);
        while c.poll_message().is_some() {}
        while c.poll_event().is_some() {}
    }
    c.take_output(&mut out);
    let mut bytes = &out[..];
    while !bytes.is_empty() {
        let (h, len) = FixedHeader::parse(bytes, u32::MAX).expect("our own output parses").expect("whole");
        bytes = &bytes[len + h.remaining as usize..];
    }
});

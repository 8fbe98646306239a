//! Any bytes as MQTT: the fixed header parser and field readers return values or typed errors,
//! never panic; a parsed header writes back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetra_transports::mqtt::wire::{FixedHeader, Reader};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((header, len))) = FixedHeader::parse(data, u32::MAX) {
        let mut out = [0u8; 5];
        let n = header.write(&mut out).expect("a parsed header fits 5 bytes");
        // A non-minimal length encoding parses too, so compare the values, not the bytes.
        assert_eq!(FixedHeader::parse(&out[..n], u32::MAX), Ok(Some((header, n))));
        let mut r = Reader::new(&data[len..]);
        while !r.remaining().is_empty() {
            if r.string().is_err() && r.var_int().is_err() && r.packet_id().is_err() {
                break;
            }
        }
    }
});

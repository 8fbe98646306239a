//! Any bytes as an MQTT packet: the fixed header parser and the publish-flow decoders return
//! values or typed errors, never panic; whatever decodes re-encodes and decodes to the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetra_transports::mqtt::packet::connect::{Auth, Connack, Connect, Disconnect};
use telemetra_transports::mqtt::packet::publish::{Ack, Publish, Version};
use telemetra_transports::mqtt::packet::subscribe::{SubAck, Subscribe};
use telemetra_transports::mqtt::packet::wire::{FixedHeader, PacketType};

fuzz_target!(|data: &[u8]| {
    let Ok(Some((header, len))) = FixedHeader::parse(data, u32::MAX) else { return };
    let mut out = [0u8; 5];
    let n = header.write(&mut out).expect("a parsed header fits 5 bytes");
    // A non-minimal length encoding parses too, so compare the values, not the bytes.
    assert_eq!(FixedHeader::parse(&out[..n], u32::MAX), Ok(Some((header, n))));
    let body = &data[len..data.len().min(len + header.remaining as usize)];
    for version in [Version::V3_1_1, Version::V5] {
        match header.kind {
            PacketType::Publish => {
                if let Ok(p) = Publish::decode(header, body, version, u16::MAX) {
                    let mut buf = vec![0u8; body.len() + 16];
                    let n = p.encode(version, &mut buf).expect("a decoded PUBLISH re-encodes");
                    let (h, l) = FixedHeader::parse(&buf[..n], u32::MAX).unwrap().unwrap();
                    let again = Publish::decode(h, &buf[l..n], version, u16::MAX).expect("and decodes");
                    assert_eq!(again.payload, p.payload);
                    assert_eq!(again.topic, p.topic);
                }
            }
            PacketType::Puback | PacketType::Pubrec | PacketType::Pubrel | PacketType::Pubcomp => {
                if let Ok(a) = Ack::decode(header, body, version) {
                    let mut buf = [0u8; 70_000];
                    let n = a.encode(version, &mut buf).expect("a decoded ack re-encodes");
                    let (h, l) = FixedHeader::parse(&buf[..n], u32::MAX).unwrap().unwrap();
                    assert_eq!(Ack::decode(h, &buf[l..n], version), Ok(a));
                }
            }
            PacketType::Connect => {
                if let Ok((c, v)) = Connect::decode(body) {
                    let mut buf = vec![0u8; body.len() + 16];
                    let n = c.encode(v, &mut buf).expect("a decoded CONNECT re-encodes");
                    let (_, l) = FixedHeader::parse(&buf[..n], u32::MAX).unwrap().unwrap();
                    let (again, _) = Connect::decode(&buf[l..n]).expect("and decodes");
                    assert_eq!((again.client_id, again.keep_alive), (c.client_id, c.keep_alive));
                }
            }
            PacketType::Connack => {
                let _ = Connack::decode(body, version);
            }
            PacketType::Disconnect => {
                let _ = Disconnect::decode(body, version);
            }
            PacketType::Auth => {
                if let Ok(a) = Auth::decode(body) {
                    let mut buf = vec![0u8; body.len() + 16];
                    let n = a.encode(&mut buf).expect("a decoded AUTH re-encodes");
                    let (_, l) = FixedHeader::parse(&buf[..n], u32::MAX).unwrap().unwrap();
                    assert_eq!(Auth::decode(&buf[l..n]), Ok(a));
                }
            }
            PacketType::Subscribe => {
                let mut n = 0usize;
                let _ = Subscribe::decode(body, version, |_| n += 1);
                assert!(n <= body.len());
            }
            PacketType::Suback | PacketType::Unsuback => {
                if let Ok(a) = SubAck::decode(header.kind, body, version) {
                    let mut buf = vec![0u8; body.len() + 16];
                    let n = a.encode(version, &mut buf).expect("a decoded SUBACK re-encodes");
                    let (_, l) = FixedHeader::parse(&buf[..n], u32::MAX).unwrap().unwrap();
                    assert_eq!(SubAck::decode(header.kind, &buf[l..n], version), Ok(a));
                }
            }
            _ => {}
        }
    }
});

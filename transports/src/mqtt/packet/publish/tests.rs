use super::*;
use proptest::prelude::*;

const MAX: u32 = 1 << 20;

fn round_trip(p: &Publish<'_>, version: Version) -> std::vec::Vec<u8> {
    let mut buf = [0u8; 512];
    let n = p.encode(version, &mut buf).unwrap();
    let (h, len) = FixedHeader::parse(&buf[..n], MAX).unwrap().unwrap();
    assert_eq!(len + h.remaining as usize, n, "remaining length is exact");
    let back = Publish::decode(h, &buf[len..n], version, 10).unwrap();
    let mut expected = *p;
    if version == Version::V3_1_1 {
        expected.properties = PublishProperties::default();
    }
    assert_eq!(back, expected);
    buf[..n].to_vec()
}

fn decode(bytes: &[u8], version: Version) -> Result<Publish<'_>, PacketError> {
    let (h, len) = FixedHeader::parse(bytes, MAX)?.ok_or(WireError::Truncated)?;
    Publish::decode(h, &bytes[len..], version, 10)
}

#[test]
fn golden_publish_bytes() {
    // MQTT 3.1.1, QoS 0: 30 | len | 00 03 'a/b' | payload.
    let p = Publish::new("a/b", b"hi");
    assert_eq!(round_trip(&p, Version::V3_1_1), [0x30, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i']);
    // MQTT 5, QoS 1, retained, id 10, message expiry 60: the property block follows the id.
    let mut p = Publish::new("a/b", b"hi");
    p.qos = QoS::AtLeastOnce;
    p.retain = true;
    p.packet_id = Some(10);
    p.properties.message_expiry = Some(60);
    assert_eq!(
        round_trip(&p, Version::V5),
        [
            0x33, 0x0f, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0a, 0x05, 0x02, 0x00, 0x00, 0x00, 0x3c, b'h',
            b'i'
        ]
    );
}

#[test]
fn every_property_round_trips() {
    let users = [("site", "lab"), ("site", "roof"), ("unit", "Cel")];
    let p = Publish {
        dup: true,
        qos: QoS::ExactlyOnce,
        retain: false,
        topic: "",
        packet_id: Some(65_535),
        properties: PublishProperties {
            payload_utf8: Some(false),
            message_expiry: Some(u32::MAX),
            topic_alias: Some(3),
            response_topic: Some("tm/v1/2a/acks"),
            correlation_data: Some(&[1, 2, 3]),
            user: UserProperties::from_pairs(&users),
            subscription_id: Some(268_435_455),
            content_type: Some("application/vnd.telemetra.frame"),
        },
        payload: &[0; 200],
    };
    round_trip(&p, Version::V5);
    let mut buf = [0u8; 512];
    let n = p.encode(Version::V5, &mut buf).unwrap();
    let (h, len) = FixedHeader::parse(&buf[..n], MAX).unwrap().unwrap();
    let back = Publish::decode(h, &buf[len..n], Version::V5, 10).unwrap();
    assert_eq!(back.properties.user.iter().collect::<std::vec::Vec<_>>(), users);
}

#[test]
fn malformed_publishes_are_refused() {
    // A wildcard in a topic name.
    assert_eq!(
        decode(&[0x30, 0x05, 0x00, 0x03, b'a', b'/', b'+'], Version::V3_1_1),
        Err(topic::TopicError::WildcardInName.into())
    );
    // Packet id 0 at QoS 1.
    assert_eq!(
        decode(&[0x32, 0x05, 0x00, 0x01, b'a', 0x00, 0x00], Version::V3_1_1),
        Err(WireError::PacketIdZero.into())
    );
    // QoS 3.
    assert_eq!(decode(&[0x36, 0x03, 0x00, 0x01, b'a'], Version::V3_1_1), Err(WireError::Qos3.into()));
    // U+0000 in the topic.
    assert_eq!(decode(&[0x30, 0x03, 0x00, 0x01, 0x00], Version::V3_1_1), Err(WireError::NullChar.into()));
    // Ill-formed UTF-8 in the topic.
    assert_eq!(
        decode(&[0x30, 0x04, 0x00, 0x02, 0xc3, 0x28], Version::V3_1_1),
        Err(WireError::BadUtf8.into())
    );
    // An empty topic without a topic alias.
    assert_eq!(decode(&[0x30, 0x03, 0x00, 0x00, 0x00], Version::V5), Err(topic::TopicError::Empty.into()));
    // Topic alias 0, and one above the maximum we announced (10).
    assert_eq!(
        decode(&[0x30, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x00], Version::V5),
        Err(PacketError::TopicAlias { alias: 0, max: 10 })
    );
    assert_eq!(
        decode(&[0x30, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x0b], Version::V5),
        Err(PacketError::TopicAlias { alias: 11, max: 10 })
    );
    // A property that does not belong in PUBLISH (Session Expiry Interval, 0x11).
    assert_eq!(
        decode(&[0x30, 0x0a, 0x00, 0x01, b'a', 0x05, 0x11, 0, 0, 0, 1], Version::V5),
        Err(PacketError::UnexpectedProperty { id: 0x11, kind: PacketType::Publish })
    );
    // Message expiry twice.
    assert_eq!(
        decode(&[0x30, 0x0e, 0x00, 0x01, b'a', 0x0a, 0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2], Version::V5),
        Err(PacketError::DuplicateProperty { id: 0x02 })
    );
    // Payload format 2.
    assert_eq!(
        decode(&[0x30, 0x06, 0x00, 0x01, b'a', 0x02, 0x01, 0x02], Version::V5),
        Err(PacketError::BadPropertyValue { id: 0x01 })
    );
    // A property block longer than the packet.
    assert_eq!(decode(&[0x30, 0x04, 0x00, 0x01, b'a', 0x09], Version::V5), Err(WireError::Truncated.into()));
}

#[test]
fn encoding_refuses_what_decoding_would() {
    let mut buf = [0u8; 64];
    assert!(Publish::new("a/#", b"").encode(Version::V5, &mut buf).is_err());
    let mut p = Publish::new("a", b"");
    p.qos = QoS::AtLeastOnce;
    assert_eq!(p.encode(Version::V5, &mut buf), Err(WireError::PacketIdZero.into()), "QoS 1 needs an id");
    p.packet_id = Some(0);
    assert_eq!(p.encode(Version::V5, &mut buf), Err(WireError::PacketIdZero.into()));
    let p = Publish::new("a", &[0; 100]);
    assert_eq!(p.encode(Version::V5, &mut buf), Err(WireError::BufferFull.into()));
}

#[test]
fn acknowledgements() {
    let mut buf = [0u8; 64];
    for kind in [AckKind::Puback, AckKind::Pubrec, AckKind::Pubrel, AckKind::Pubcomp] {
        for version in [Version::V3_1_1, Version::V5] {
            for ack in [
                Ack::success(kind, 7),
                Ack { kind, packet_id: 7, reason: 0x80, reason_string: None },
                Ack { kind, packet_id: 7, reason: 0x97, reason_string: Some("quota exceeded") },
            ] {
                let n = ack.encode(version, &mut buf).unwrap();
                let (h, len) = FixedHeader::parse(&buf[..n], MAX).unwrap().unwrap();
                let back = Ack::decode(h, &buf[len..n], version).unwrap();
                let expected = if version == Version::V3_1_1 { Ack::success(kind, 7) } else { ack };
                assert_eq!(back, expected);
            }
        }
    }
    // PUBREL must carry flags 0010: 0x62.
    assert_eq!(Ack::success(AckKind::Pubrel, 1).encode(Version::V3_1_1, &mut buf), Ok(4));
    assert_eq!(&buf[..4], &[0x62, 0x02, 0x00, 0x01]);
    let h = FixedHeader { kind: PacketType::Puback, flags: 0, remaining: 3 };
    assert_eq!(
        Ack::decode(h, &[0x00, 0x01, 0x00, 0x00], Version::V3_1_1),
        Err(PacketError::TrailingBytes { extra: 2 })
    );
    assert_eq!(Ack::decode(h, &[0x00, 0x00], Version::V5), Err(WireError::PacketIdZero.into()));
}

fn text() -> impl Strategy<Value = String> {
    "[a-z0-9/ é]{0,12}"
}

proptest! {
    #[test]
    fn random_publishes_round_trip(
        topic in "[a-z0-9]{1,8}(/[a-z0-9]{0,8}){0,3}",
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        qos in 0u8..3,
        id in 1u16..,
        dup in any::<bool>(),
        retain in any::<bool>(),
        expiry in proptest::option::of(any::<u32>()),
        content in proptest::option::of(text()),
        user in proptest::collection::vec((text(), text()), 0..4),
    ) {
        let pairs: std::vec::Vec<(&str, &str)> = user.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let qos = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce][usize::from(qos)];
        let p = Publish {
            dup,
            qos,
            retain,
            topic: &topic,
            packet_id: (qos != QoS::AtMostOnce).then_some(id),
            properties: PublishProperties {
                message_expiry: expiry,
                content_type: content.as_deref(),
                user: UserProperties::from_pairs(&pairs),
                ..PublishProperties::default()
            },
            payload: &payload,
        };
        let mut buf = std::vec![0u8; 1024];
        for version in [Version::V3_1_1, Version::V5] {
            let n = p.encode(version, &mut buf).unwrap();
            let (h, len) = FixedHeader::parse(&buf[..n], MAX).unwrap().unwrap();
            let back = Publish::decode(h, &buf[len..n], version, 0).unwrap();
            prop_assert_eq!(back.payload, &payload[..]);
            prop_assert_eq!(back.topic, topic.as_str());
            if version == Version::V5 {
                prop_assert_eq!(back, p);
            }
        }
    }

    #[test]
    fn arbitrary_bodies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128), flags in 0u8..16) {
        let h = FixedHeader { kind: PacketType::Publish, flags, remaining: bytes.len() as u32 };
        for version in [Version::V3_1_1, Version::V5] {
            if let Ok(p) = Publish::decode(h, &bytes, version, u16::MAX) {
                let _ = p.properties.user.iter().count();
            }
            let _ = Ack::decode(FixedHeader { kind: PacketType::Puback, flags: 0, remaining: 0 }, &bytes, version);
        }
    }
}

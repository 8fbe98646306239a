use super::*;
use crate::mqtt::packet::wire::FixedHeader;
use proptest::prelude::*;

const MAX: u32 = 1 << 20;

fn body(bytes: &[u8]) -> &[u8] {
    let (_, len) = FixedHeader::parse(bytes, MAX).unwrap().unwrap();
    &bytes[len..]
}

#[test]
fn golden_connect_3_1_1() {
    // MQTT 3.1.1: 10 | len | 00 04 "MQTT" | 04 | flags C2 (user, password, clean) | keep alive 60
    // | client id | user | password.
    let mut c = Connect::new("id", 60);
    c.username = Some("u");
    c.password = Some(Secret(b"p"));
    let mut buf = [0u8; 64];
    let n = c.encode(Version::V3_1_1, &mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        &[0x10, 0x14, 0, 4, b'M', b'Q', b'T', b'T', 4, 0xc2, 0, 60, 0, 2, b'i', b'd', 0, 1, b'u', 0, 1, b'p']
    );
    assert_eq!(Connect::decode(body(&buf[..n])), Ok((c, Version::V3_1_1)));
}

#[test]
fn connect_with_will_and_properties_round_trips() {
    let users = [("fw", "1.3.2")];
    let c = Connect {
        client_id: "tm-2a",
        clean_start: false,
        keep_alive: 30,
        username: Some("device-2a"),
        password: Some(Secret(b"\x00\xffbinary")),
        will: Some(Will {
            topic: "tm/v1/2a/status",
            payload: b"offline",
            qos: QoS::AtLeastOnce,
            retain: true,
            delay: Some(5),
            message_expiry: Some(3600),
            content_type: Some("text/plain"),
        }),
        session_expiry: Some(86_400),
        receive_maximum: Some(20),
        maximum_packet_size: Some(4096),
        topic_alias_maximum: Some(10),
        user: UserProperties::from_pairs(&users),
    };
    let mut buf = [0u8; 256];
    let n = c.encode(Version::V5, &mut buf).unwrap();
    assert_eq!(Connect::decode(body(&buf[..n])), Ok((c, Version::V5)));
    // 3.1.1 drops the properties and the will's properties.
    let n = c.encode(Version::V3_1_1, &mut buf).unwrap();
    let (back, v) = Connect::decode(body(&buf[..n])).unwrap();
    assert_eq!(v, Version::V3_1_1);
    assert_eq!(
        (back.client_id, back.will.unwrap().topic, back.session_expiry),
        ("tm-2a", "tm/v1/2a/status", None)
    );
}

#[test]
fn malformed_connects_are_refused() {
    let good = {
        let mut buf = [0u8; 64];
        let n = Connect::new("id", 60).encode(Version::V3_1_1, &mut buf).unwrap();
        body(&buf[..n]).to_vec()
    };
    let with = |at: usize, v: u8| {
        let mut b = good.clone();
        b[at] = v;
        Connect::decode(&b).err()
    };
    assert!(matches!(with(2, b'X'), Some(PacketError::Protocol(_))), "protocol name");
    assert!(matches!(with(6, 3), Some(PacketError::Protocol(_))), "protocol level 3");
    assert!(matches!(with(7, 0x03), Some(PacketError::Protocol(_))), "reserved flag");
    assert!(matches!(with(7, 0x22), Some(PacketError::Protocol(_))), "will retain without will");
    assert_eq!(with(7, 0x1e), Some(WireError::Qos3.into()), "will QoS 3");
    assert!(matches!(with(7, 0x42), Some(PacketError::Protocol(_))), "3.1.1 password without user");
    let mut c = Connect::new("id", 0);
    c.password = Some(Secret(b"p"));
    assert!(c.encode(Version::V3_1_1, &mut [0u8; 64]).is_err());
    assert!(c.encode(Version::V5, &mut [0u8; 64]).is_ok(), "5.0 allows a password alone");
    let mut c = Connect::new("id", 0);
    c.will = Some(Will {
        topic: "tm/+/status",
        payload: b"",
        qos: QoS::AtMostOnce,
        retain: false,
        delay: None,
        message_expiry: None,
        content_type: None,
    });
    assert_eq!(c.encode(Version::V5, &mut [0u8; 64]), Err(topic::TopicError::WildcardInName.into()));
}

#[test]
fn connack_round_trips_and_refuses_bad_values() {
    let c = Connack {
        session_present: true,
        reason: 0,
        session_expiry: Some(600),
        receive_maximum: Some(10),
        maximum_qos: Some(QoS::AtLeastOnce),
        retain_available: Some(false),
        maximum_packet_size: Some(1 << 16),
        assigned_client_id: Some("auto-7"),
        topic_alias_maximum: Some(5),
        reason_string: Some("welcome"),
        wildcards_available: Some(true),
        subscription_ids_available: Some(false),
        shared_available: Some(true),
        server_keep_alive: Some(120),
        user: UserProperties::default(),
    };
    let mut buf = [0u8; 128];
    let n = c.encode(Version::V5, &mut buf).unwrap();
    assert_eq!(Connack::decode(body(&buf[..n]), Version::V5), Ok(c));
    let n = Connack { reason: 5, ..Connack::default() }.encode(Version::V3_1_1, &mut buf).unwrap();
    assert_eq!(&buf[..n], &[0x20, 0x02, 0x00, 0x05]);
    assert!(matches!(Connack::decode(&[0x02, 0x00], Version::V3_1_1), Err(PacketError::Protocol(_))));
    // Receive Maximum 0, Maximum QoS 2, a duplicate, a CONNECT-only property.
    assert_eq!(
        Connack::decode(&[0, 0, 3, 0x21, 0, 0], Version::V5),
        Err(PacketError::BadPropertyValue { id: 0x21 })
    );
    assert_eq!(
        Connack::decode(&[0, 0, 2, 0x24, 2], Version::V5),
        Err(PacketError::BadPropertyValue { id: 0x24 })
    );
    assert_eq!(
        Connack::decode(&[0, 0, 6, 0x13, 0, 1, 0x13, 0, 2], Version::V5),
        Err(PacketError::DuplicateProperty { id: 0x13 })
    );
    assert_eq!(
        Connack::decode(&[0, 0, 5, 0x18, 0, 0, 0, 1], Version::V5),
        Err(PacketError::UnexpectedProperty { id: 0x18, kind: PacketType::Connack })
    );
}

#[test]
fn disconnect_and_ping() {
    let mut buf = [0u8; 64];
    let n = Disconnect::default().encode(Version::V5, &mut buf).unwrap();
    assert_eq!(&buf[..n], &[0xe0, 0x00]);
    let d = Disconnect { reason: 0x04, session_expiry: Some(0), reason_string: Some("bye") };
    let n = d.encode(Version::V5, &mut buf).unwrap();
    assert_eq!(Disconnect::decode(body(&buf[..n]), Version::V5), Ok(d));
    let n = d.encode(Version::V3_1_1, &mut buf).unwrap();
    assert_eq!(&buf[..n], &[0xe0, 0x00]);
    assert_eq!(Disconnect::decode(&[0x81], Version::V5).map(|d| d.reason), Ok(0x81));
    assert_eq!(Disconnect::decode(&[0x00], Version::V3_1_1), Err(PacketError::TrailingBytes { extra: 1 }));
    assert_eq!(FixedHeader::parse(&PINGREQ, MAX).unwrap().unwrap().0.kind, PacketType::Pingreq);
    assert_eq!(FixedHeader::parse(&PINGRESP, MAX).unwrap().unwrap().0.kind, PacketType::Pingresp);
}

#[test]
fn auth_round_trips_and_hides_its_data() {
    let mut buf = [0u8; 64];
    let a = Auth {
        reason: 0x18,
        method: Some("SCRAM-SHA-256"),
        data: Some(Secret(b"n,,n=user")),
        reason_string: None,
    };
    let n = a.encode(&mut buf).unwrap();
    assert_eq!(buf[0], 0xf0);
    assert_eq!(Auth::decode(body(&buf[..n])), Ok(a));
    assert!(!format!("{a:?}").contains("n=user"));
    let n = Auth::default().encode(&mut buf).unwrap();
    assert_eq!(&buf[..n], &[0xf0, 0x00]);
    assert!(matches!(Auth::decode(&[0x01]), Err(PacketError::Protocol(_))));
    assert_eq!(
        Auth::decode(&[0x18, 0x02, 0x21, 0x00]),
        Err(PacketError::UnexpectedProperty { id: 0x21, kind: PacketType::Auth })
    );
}

proptest! {
    #[test]
    fn random_connects_round_trip(
        client_id in "[a-zA-Z0-9-]{0,23}",
        keep_alive in any::<u16>(),
        user in proptest::option::of("[a-z]{1,8}"),
        password in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
        expiry in proptest::option::of(any::<u32>()),
    ) {
        let mut c = Connect::new(&client_id, keep_alive);
        c.username = user.as_deref();
        c.password = password.as_deref().map(Secret);
        c.session_expiry = expiry;
        let mut buf = [0u8; 128];
        let n = c.encode(Version::V5, &mut buf).unwrap();
        prop_assert_eq!(Connect::decode(body(&buf[..n])), Ok((c, Version::V5)));
    }

    #[test]
    fn arbitrary_bodies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        let _ = Connect::decode(&bytes);
        for v in [Version::V3_1_1, Version::V5] {
            let _ = Connack::decode(&bytes, v);
            let _ = Disconnect::decode(&bytes, v);
        }
        let _ = Auth::decode(&bytes);
    }
}

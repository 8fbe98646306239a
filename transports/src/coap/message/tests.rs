use std::vec::Vec;

use super::*;
use proptest::prelude::*;

/// RFC 7252 Appendix A, Figure 16's request: CON GET, MID 0x7d34, Uri-Path "temperature".
const GET_TEMPERATURE: [u8; 16] =
    [0x40, 0x01, 0x7d, 0x34, 0xbb, b't', b'e', b'm', b'p', b'e', b'r', b'a', b't', b'u', b'r', b'e'];

#[test]
fn the_rfc_example_reads_and_writes() {
    let m = Message::parse(&GET_TEMPERATURE).unwrap();
    assert_eq!(
        (m.ty, m.code, m.message_id, m.token, m.payload),
        (Type::Con, Code::GET, 0x7d34, &[][..], &[][..])
    );
    assert_eq!(m.options().collect::<Vec<_>>(), [(OptionNumber::URI_PATH, &b"temperature"[..])]);
    let mut buf = [0u8; 32];
    let mut b = Builder::new(&mut buf, Type::Con, Code::GET, 0x7d34, &[]).unwrap();
    b.option(OptionNumber::URI_PATH, b"temperature").unwrap();
    assert_eq!(b.finish(), GET_TEMPERATURE);
}

#[test]
fn malformed_messages_say_what_is_wrong() {
    let cases: &[(&[u8], FormatError)] = &[
        (&[0x40, 0x01, 0x00], FormatError::TooShort),
        (&[0x80, 0x01, 0x00, 0x01], FormatError::Version(2)),
        (&[0x49, 0x01, 0x00, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 9], FormatError::TokenLength(9)),
        (&[0x42, 0x01, 0x00, 0x01, 0xaa], FormatError::Truncated("token")),
        (&[0x40, 0x01, 0x00, 0x01, 0xf1, 0x00], FormatError::ReservedNibble),
        (&[0x40, 0x01, 0x00, 0x01, 0x1f, 0x00], FormatError::ReservedNibble),
        (&[0x40, 0x01, 0x00, 0x01, 0xd1, 0x05], FormatError::Truncated("option value")),
        (&[0x40, 0x01, 0x00, 0x01, 0xe0, 0x01], FormatError::Truncated("option")),
        (&[0x40, 0x01, 0x00, 0x01, 0xff], FormatError::EmptyPayload),
        (&[0x41, 0x00, 0x00, 0x01, 0xaa], FormatError::NotEmpty),
        (&[0x60, 0x00, 0x00, 0x01, 0xff, 0x01], FormatError::NotEmpty),
        // Two option deltas of 65000 overflow the option number.
        (&[0x40, 0x01, 0x00, 0x01, 0xe0, 0xfc, 0xdb, 0xe0, 0xfc, 0xdb], FormatError::OptionNumber),
    ];
    for (bytes, want) in cases {
        assert_eq!(Message::parse(bytes), Err(*want), "{bytes:02x?}");
    }
    // An Empty ACK alone is fine.
    let ack = Message::parse(&[0x60, 0x00, 0x12, 0x34]).unwrap();
    assert_eq!((ack.ty, ack.code, ack.message_id), (Type::Ack, Code::EMPTY, 0x1234));
}

#[test]
fn unknown_or_broken_critical_options_are_found_elective_ones_ignored() {
    let build = |opts: &[(u16, &[u8])]| {
        let mut buf = [0u8; 128];
        let mut b = Builder::new(&mut buf, Type::Con, Code::GET, 1, &[]).unwrap();
        for (n, v) in opts {
            b.option(OptionNumber(*n), v).unwrap();
        }
        b.finish().to_vec()
    };
    let check = |opts: &[(u16, &[u8])]| Message::parse(&build(opts)).unwrap().bad_critical_option();
    assert_eq!(check(&[(11, b"a"), (12, &[0])]), None);
    assert_eq!(check(&[(2049, b"")]), Some(OptionNumber(2049)), "unknown critical");
    assert_eq!(check(&[(2048, b"")]), None, "unknown elective: ignored");
    assert_eq!(check(&[(3, b"")]), Some(OptionNumber::URI_HOST), "Uri-Host of length 0");
    assert_eq!(check(&[(7, &[1, 2, 3])]), Some(OptionNumber::URI_PORT), "Uri-Port of 3 bytes");
    assert_eq!(check(&[(4, &[0; 9])]), None, "an ETag too long is elective: ignored");
    assert_eq!(check(&[(9, b""), (9, b"")]), Some(OptionNumber::OSCORE), "repeated");
    assert_eq!(check(&[(11, b"a"), (11, b"b")]), None, "Uri-Path repeats");
}

#[test]
fn option_lengths_and_deltas_at_every_boundary() {
    for n in [0u16, 12, 13, 268, 269, 270, 1034, 65535] {
        for len in [0usize, 12, 13, 268, 269, 1034] {
            let value = std::vec![0x5a; len];
            let mut buf = std::vec![0u8; 2048];
            let mut b = Builder::new(&mut buf, Type::Non, Code::PUT, 9, b"tok").unwrap();
            b.option(OptionNumber(n), &value).unwrap();
            let bytes = b.payload(b"p").unwrap();
            let m = Message::parse(bytes).unwrap();
            assert_eq!(m.options().collect::<Vec<_>>(), [(OptionNumber(n), &value[..])]);
            assert_eq!(m.payload, b"p");
        }
    }
}

#[test]
fn building_refuses_what_the_format_cannot_hold() {
    let mut buf = [0u8; 8];
    assert_eq!(
        Builder::new(&mut buf, Type::Con, Code::GET, 1, &[0; 9]).unwrap_err(),
        BuildError::TokenTooLong
    );
    let mut b = Builder::new(&mut buf, Type::Con, Code::GET, 1, &[]).unwrap();
    b.option(OptionNumber::URI_PATH, b"a").unwrap();
    assert_eq!(b.option(OptionNumber::URI_HOST, b"h").unwrap_err(), BuildError::OptionOrder(3, 11));
    assert_eq!(b.option(OptionNumber::URI_QUERY, b"longer").unwrap_err(), BuildError::BufferTooSmall);
    // A failed option leaves the message as it was.
    assert_eq!(Message::parse(b.finish()).unwrap().options().count(), 1);
}

/// Type bits, code, Message ID, token, options (number, value), payload.
type Parts = (u8, u8, u16, Vec<u8>, Vec<(u16, Vec<u8>)>, Vec<u8>);

fn message() -> impl Strategy<Value = Parts> {
    (
        0u8..4,
        1u8..=255,
        any::<u16>(),
        proptest::collection::vec(any::<u8>(), 0..=8),
        proptest::collection::vec((0u16..400, proptest::collection::vec(any::<u8>(), 0..300)), 0..6),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
}

proptest! {
    #[test]
    fn what_is_built_parses_back(m in message()) {
        let (ty, code, id, token, mut options, payload) = m;
        options.sort_by_key(|(n, _)| *n);
        let mut buf = std::vec![0u8; 4096];
        let ty = Type::from_bits(ty);
        let mut b = Builder::new(&mut buf, ty, Code(code), id, &token).unwrap();
        for (n, v) in &options {
            b.option(OptionNumber(*n), v).unwrap();
        }
        let bytes = b.payload(&payload).unwrap().to_vec();
        let m = Message::parse(&bytes).unwrap();
        prop_assert_eq!((m.ty, m.code, m.message_id, m.token, m.payload), (ty, Code(code), id, &token[..], &payload[..]));
        let got: Vec<(u16, Vec<u8>)> = m.options().map(|(n, v)| (n.0, v.to_vec())).collect();
        prop_assert_eq!(got, options);
    }

    /// Any bytes: no panic; and a message that parses is written back to the same bytes (the
    /// encoding is canonical), so nothing is lost or invented in between.
    #[test]
    fn arbitrary_bytes_never_panic_and_parse_canonically(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        if let Ok(m) = Message::parse(&bytes) {
            let mut buf = std::vec![0u8; 256];
            let mut b = Builder::new(&mut buf, m.ty, m.code, m.message_id, m.token).unwrap();
            for (n, v) in m.options() {
                b.option(n, v).unwrap();
            }
            prop_assert_eq!(b.payload(m.payload).unwrap(), &bytes[..]);
            let _ = m.bad_critical_option();
        }
    }
}

use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::coap::code::Code;

fn frame(bytes: &[u8]) -> Frame<'_> {
    let (f, used) = Frame::parse(bytes, 1 << 20).unwrap().unwrap();
    assert_eq!(used, bytes.len());
    f
}

#[test]
fn the_rfc_length_forms() {
    // Len 0: a CSM with no options is two bytes (§3.2, §5.3).
    let mut buf = [0u8; 80_000];
    assert_eq!(build(&mut buf, Code::CSM, &[], |_| Ok(()), &[]).unwrap(), [0x00, 0xe1]);
    for (payload_len, first_nibble, header) in
        [(11, 12, 2), (12, 13, 3), (267, 13, 3), (268, 14, 4), (65803, 14, 4), (65804, 15, 6)]
    {
        let payload = std::vec![0x55u8; payload_len];
        let bytes = build(&mut buf, Code::CONTENT, &[1, 2], |_| Ok(()), &payload).unwrap().to_vec();
        // Len counts the payload marker and the payload.
        assert_eq!(bytes[0] >> 4, first_nibble, "payload {payload_len}");
        assert_eq!(bytes.len(), header + 2 + 1 + payload_len);
        let f = frame(&bytes);
        assert_eq!((f.code, f.token, f.payload.len()), (Code::CONTENT, &[1, 2][..], payload_len));
    }
}

#[test]
fn broken_frames_are_refused_and_large_ones_before_their_bytes() {
    assert_eq!(Frame::parse(&[0x09], 1152), Err(FrameError::TokenLength(9)));
    // Len nibble 14: 269 + 0x1000 bytes announced; refused from the header alone.
    assert_eq!(Frame::parse(&[0xe0, 0x10, 0x00], 1152), Err(FrameError::TooLarge { size: 4365, max: 1152 }));
    // A payload marker with no payload.
    assert!(matches!(Frame::parse(&[0x10, 0x45, 0xff], 1152), Err(FrameError::Format(_))));
    // Incomplete: more bytes needed, not an error.
    assert_eq!(Frame::parse(&[], 1152), Ok(None));
    assert_eq!(Frame::parse(&[0xd0], 1152), Ok(None));
    assert_eq!(Frame::parse(&[0x30, 0x45, 0xff], 1152), Ok(None));
}

#[test]
fn csm_first_then_ping_pong_release_abort() {
    let mut c = Connection::new(4096);
    let mut buf = [0u8; 64];
    let get = build(&mut buf, Code::GET, &[1], |_| Ok(()), &[]).unwrap().to_vec();
    assert_eq!(c.on_frame(frame(&get)), Err(Violation::NoCsmFirst));
    let csm = build(
        &mut buf,
        Code::CSM,
        &[],
        |b| {
            b.uint_option(signal::MAX_MESSAGE_SIZE, 2048)?;
            b.option(signal::BLOCK_WISE_TRANSFER, &[]).map(|_| ())
        },
        &[],
    )
    .unwrap()
    .to_vec();
    assert_eq!(c.on_frame(frame(&csm)), Ok(Received::Capabilities));
    assert_eq!((c.peer_max_message_size(), c.peer_block_wise(), c.established()), (2048, true, true));
    let ours = Connection::new(4096).csm(&mut buf).unwrap().to_vec();
    assert_eq!(frame(&ours).option(signal::BLOCK_WISE_TRANSFER), None, "no BERT offered");
    assert!(matches!(c.on_frame(frame(&get)), Ok(Received::Message(f)) if f.code == Code::GET));
    let ping = Connection::ping(&mut buf, &[9]).unwrap().to_vec();
    assert_eq!(c.on_frame(frame(&ping)), Ok(Received::Ping));
    assert_eq!(frame(Connection::pong(&mut buf, frame(&ping).token).unwrap()).token, &[9]);
    let release =
        build(&mut buf, Code::RELEASE, &[], |b| b.uint_option(signal::HOLD_OFF, 30).map(|_| ()), &[])
            .unwrap()
            .to_vec();
    assert_eq!(c.on_frame(frame(&release)), Ok(Received::Release { hold_off: Some(30) }));
    // An unknown critical option in a signal, an unknown signal: connection errors.
    let odd = build(&mut buf, Code::PING, &[], |b| b.option(OptionNumber(5), &[]).map(|_| ()), &[])
        .unwrap()
        .to_vec();
    assert_eq!(c.on_frame(frame(&odd)), Err(Violation::CriticalSignalOption(OptionNumber(5))));
    let unknown = build(&mut buf, Code::new(7, 9), &[], |_| Ok(()), &[]).unwrap().to_vec();
    assert_eq!(c.on_frame(frame(&unknown)), Err(Violation::UnknownSignal(Code::new(7, 9))));
    let abort = Connection::abort(&mut buf, b"bye").unwrap().to_vec();
    assert_eq!(c.on_frame(frame(&abort)), Ok(Received::Abort));
}

proptest! {
    /// Built frames parse back, whole and from a stream cut anywhere; any bytes never panic.
    #[test]
    fn frames_round_trip_through_a_stream_cut_anywhere(
        token in proptest::collection::vec(any::<u8>(), 0..=8),
        path in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 0..4),
        payload in proptest::collection::vec(any::<u8>(), 0..2000),
        cut in 0usize..3000,
    ) {
        let mut buf = std::vec![0u8; 4096];
        let bytes = build(&mut buf, Code::POST, &token, |b| {
            for p in &path {
                b.option(OptionNumber::URI_PATH, p)?;
            }
            Ok(())
        }, &payload).unwrap().to_vec();
        let cut = cut.min(bytes.len());
        if cut < bytes.len() {
            prop_assert_eq!(Frame::parse(&bytes[..cut], 1 << 20), Ok(None));
        }
        let mut stream = bytes.clone();
        stream.extend_from_slice(&bytes);
        let (f, used) = Frame::parse(&stream, 1 << 20).unwrap().unwrap();
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!((f.code, f.token, f.payload), (Code::POST, &token[..], &payload[..]));
        let got: Vec<Vec<u8>> = f.options().map(|(_, v)| v.to_vec()).collect();
        prop_assert_eq!(got, path);
    }

    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Frame::parse(&bytes, 1152);
    }
}

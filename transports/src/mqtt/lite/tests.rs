//! The lite client against a scripted broker: packets built with the packet codecs.

use std::string::{String, ToString};
use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::mqtt::packet::connect::Connack;

type Lite = LiteClient<4, 256>;

/// What a call reported, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Connected(bool),
    Message(String, Vec<u8>, QoS),
    Delivered(u16),
    Refused(u16),
    Subscribed(u16, Vec<u8>),
}

fn feed(c: &mut Lite, bytes: &[u8]) -> Result<Vec<Seen>, ClientError> {
    let mut seen = Vec::new();
    c.handle_input(bytes, &mut |e| {
        seen.push(match e {
            LiteEvent::Connected { session_present } => Seen::Connected(session_present),
            LiteEvent::Message { topic, payload, qos, .. } => {
                Seen::Message(topic.to_string(), payload.to_vec(), qos)
            }
            LiteEvent::Delivered { packet_id } => Seen::Delivered(packet_id),
            LiteEvent::Refused { packet_id, .. } => Seen::Refused(packet_id),
            LiteEvent::Subscribed { packet_id, codes } => Seen::Subscribed(packet_id, codes.to_vec()),
        })
    })?;
    Ok(seen)
}

fn connack(session_present: bool) -> Vec<u8> {
    let c = Connack { session_present, ..Connack::default() };
    let mut buf = [0u8; 64];
    let n = c.encode(Version::V5, &mut buf).unwrap();
    buf[..n].to_vec()
}

fn ack(kind: AckKind, pid: u16) -> Vec<u8> {
    let mut buf = [0u8; 16];
    let n = Ack::success(kind, pid).encode(Version::V5, &mut buf).unwrap();
    buf[..n].to_vec()
}

fn publish_packet(topic: &str, payload: &[u8], qos: QoS, pid: Option<u16>, dup: bool) -> Vec<u8> {
    let mut p = Publish::new(topic, payload);
    p.qos = qos;
    p.packet_id = pid;
    p.dup = dup;
    let mut buf = [0u8; 1024];
    let n = p.encode(Version::V5, &mut buf).unwrap();
    buf[..n].to_vec()
}

/// The packets in `bytes`: (type, body).
fn packets(mut bytes: &[u8]) -> Vec<(PacketType, u8, Vec<u8>)> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (h, len) = FixedHeader::parse(bytes, 1 << 20).unwrap().unwrap();
        let end = len + h.remaining as usize;
        out.push((h.kind, h.flags, bytes[len..end].to_vec()));
        bytes = &bytes[end..];
    }
    out
}

fn connected(session_present: bool) -> Lite {
    let mut c = Lite::new();
    c.connect(&LiteOptions::new("node"), 0).unwrap();
    c.clear_output();
    assert_eq!(feed(&mut c, &connack(session_present)).unwrap(), [Seen::Connected(session_present)]);
    c
}

#[test]
fn connect_announces_the_limits_and_resumes_later() {
    let mut c = Lite::new();
    let mut o = LiteOptions::new("node-1");
    o.clean_start = true;
    o.will = Some(("tm/v1/1/status", b"lost", QoS::AtLeastOnce, true));
    c.connect(&o, 0).unwrap();
    let p = packets(c.output());
    assert_eq!(p[0].0, PacketType::Connect);
    let (connect, version) = Connect::decode(&p[0].2).unwrap();
    assert_eq!(version, Version::V5);
    assert_eq!(connect.client_id, "node-1");
    assert!(connect.clean_start);
    assert_eq!(connect.receive_maximum, Some(INCOMING_QOS2 as u16));
    assert_eq!(connect.maximum_packet_size, Some(256));
    assert_eq!(connect.session_expiry, Some(3600));
    assert_eq!(connect.will.unwrap().payload, b"lost");
    feed(&mut c, &connack(false)).unwrap();
    // The second connection resumes the session.
    c.connect(&o, 1000).unwrap();
    let sent = packets(c.output());
    let (connect, _) = Connect::decode(&sent[0].2).unwrap();
    assert!(!connect.clean_start);
}

#[test]
fn qos_1_and_2_out_complete_their_flows() {
    let mut c = connected(false);
    assert_eq!(c.publish("a/b", b"zero", QoS::AtMostOnce, false, 1).unwrap(), None);
    let one = c.publish("a/b", b"one", QoS::AtLeastOnce, false, 1).unwrap().unwrap();
    let two = c.publish("a/b", b"two", QoS::ExactlyOnce, false, 1).unwrap().unwrap();
    let kinds: Vec<_> = packets(c.output()).iter().map(|p| p.0).collect();
    assert_eq!(kinds, [PacketType::Publish; 3]);
    c.clear_output();
    assert_eq!(feed(&mut c, &ack(AckKind::Puback, one)).unwrap(), [Seen::Delivered(one)]);
    assert!(feed(&mut c, &ack(AckKind::Pubrec, two)).unwrap().is_empty());
    assert_eq!(packets(c.output())[0].0, PacketType::Pubrel);
    c.clear_output();
    assert!(!c.is_idle());
    assert_eq!(feed(&mut c, &ack(AckKind::Pubcomp, two)).unwrap(), [Seen::Delivered(two)]);
    assert!(c.is_idle());
}

#[test]
fn a_full_window_is_busy_until_acknowledged() {
    let mut c = connected(false);
    let pids: Vec<u16> =
        (0..4).map(|_| c.publish("a", b"x", QoS::AtLeastOnce, false, 1).unwrap().unwrap()).collect();
    assert_eq!(c.publish("a", b"x", QoS::AtLeastOnce, false, 1), Err(LiteError::Busy));
    c.clear_output();
    feed(&mut c, &ack(AckKind::Puback, pids[2])).unwrap();
    assert_eq!(c.publish("a", &[0; 300], QoS::AtLeastOnce, false, 1), Err(LiteError::TooLarge));
    let again = c.publish("a", b"x", QoS::AtLeastOnce, false, 1).unwrap().unwrap();
    assert!(!pids[..2].contains(&again) && again != pids[3], "a packet id in flight is not reused");
}

#[test]
fn qos_2_in_is_handed_on_once() {
    let mut c = connected(false);
    let p = publish_packet("cmd", b"go", QoS::ExactlyOnce, Some(7), false);
    assert_eq!(feed(&mut c, &p).unwrap(), [Seen::Message("cmd".into(), b"go".to_vec(), QoS::ExactlyOnce)]);
    let dup = publish_packet("cmd", b"go", QoS::ExactlyOnce, Some(7), true);
    assert!(feed(&mut c, &dup).unwrap().is_empty(), "a repeated PUBLISH is answered, not handed on");
    let answers: Vec<_> = packets(c.output()).iter().map(|p| p.0).collect();
    assert_eq!(answers, [PacketType::Pubrec, PacketType::Pubrec]);
    c.clear_output();
    feed(&mut c, &ack(AckKind::Pubrel, 7)).unwrap();
    assert_eq!(packets(c.output())[0].0, PacketType::Pubcomp);
    // Released: the same id is a new message now.
    assert_eq!(feed(&mut c, &p).unwrap().len(), 1);
}

#[test]
fn a_resumed_session_gets_duplicates_and_pubrel_a_new_one_gets_new_messages() {
    for present in [true, false] {
        let mut c = connected(false);
        let one = c.publish("a", b"1", QoS::AtLeastOnce, false, 1).unwrap().unwrap();
        let two = c.publish("a", b"2", QoS::ExactlyOnce, false, 1).unwrap().unwrap();
        let three = c.publish("a", b"3", QoS::ExactlyOnce, false, 1).unwrap().unwrap();
        feed(&mut c, &ack(AckKind::Pubrec, three)).unwrap();
        c.connection_lost();
        c.connect(&LiteOptions::new("node"), 2000).unwrap();
        c.clear_output();
        let seen = feed(&mut c, &connack(present)).unwrap();
        let sent = packets(c.output());
        if present {
            assert_eq!(seen, [Seen::Connected(true)]);
            let kinds: Vec<_> = sent.iter().map(|p| (p.0, p.1 & 0x08 != 0)).collect();
            assert_eq!(
                kinds,
                [(PacketType::Publish, true), (PacketType::Publish, true), (PacketType::Pubrel, false)]
            );
        } else {
            assert_eq!(seen, [Seen::Connected(false), Seen::Delivered(three)]);
            let kinds: Vec<_> = sent.iter().map(|p| (p.0, p.1 & 0x08 != 0)).collect();
            assert_eq!(kinds, [(PacketType::Publish, false), (PacketType::Publish, false)]);
        }
        c.clear_output();
        feed(&mut c, &ack(AckKind::Puback, one)).unwrap();
        feed(&mut c, &ack(AckKind::Pubrec, two)).unwrap();
        feed(&mut c, &ack(AckKind::Pubcomp, two)).unwrap();
        if present {
            feed(&mut c, &ack(AckKind::Pubcomp, three)).unwrap();
        }
        assert!(c.is_idle());
    }
}

#[test]
fn keep_alive_pings_and_a_silent_broker_times_out() {
    let mut c = Lite::new();
    let mut o = LiteOptions::new("node");
    o.keep_alive = 2;
    c.connect(&o, 0).unwrap();
    assert_eq!(c.next_timeout(), Some(CONNECT_TIMEOUT_MS));
    feed(&mut c, &connack(false)).unwrap();
    c.clear_output();
    assert_eq!(c.next_timeout(), Some(2000));
    c.handle_timeout(1999).unwrap();
    assert!(c.output().is_empty());
    c.handle_timeout(2000).unwrap();
    assert_eq!(c.output(), PINGREQ);
    c.clear_output();
    feed(&mut c, &[0xd0, 0x00]).unwrap();
    assert_eq!(c.next_timeout(), Some(4000));
    c.handle_timeout(4000).unwrap();
    c.clear_output();
    assert_eq!(c.handle_timeout(6000), Err(ClientError::KeepAliveTimeout));
    assert!(!c.is_connected());
    let mut late = Lite::new();
    late.connect(&o, 0).unwrap();
    assert_eq!(late.handle_timeout(CONNECT_TIMEOUT_MS), Err(ClientError::ConnectTimeout));
}

#[test]
fn subscribe_and_its_answer() {
    let mut c = connected(false);
    let pid = c.subscribe(&[Subscription::new("tm/v1/2a/commands", QoS::ExactlyOnce)], 1).unwrap();
    assert_eq!(packets(c.output())[0].0, PacketType::Subscribe);
    let suback = [0x90, 0x04, (pid >> 8) as u8, pid as u8, 0x00, 0x02];
    assert_eq!(feed(&mut c, &suback).unwrap(), [Seen::Subscribed(pid, vec![2])]);
    assert_eq!(
        Lite::new().subscribe(&[Subscription::new("x", QoS::AtMostOnce)], 0),
        Err(LiteError::NotConnected)
    );
}

#[test]
fn a_refusal_and_a_server_disconnect() {
    let mut c = Lite::new();
    c.connect(&LiteOptions::new("node"), 0).unwrap();
    let refused = Connack { reason: 0x87, ..Connack::default() };
    let mut buf = [0u8; 32];
    let n = refused.encode(Version::V5, &mut buf).unwrap();
    assert_eq!(feed(&mut c, &buf[..n]), Err(ClientError::Refused(ReasonCode(0x87))));
    let mut c = connected(false);
    assert_eq!(feed(&mut c, &[0xe0, 0x01, 0x8b]), Err(ClientError::ServerDisconnect(ReasonCode(0x8b))));
    assert!(!c.is_connected());
}

#[test]
fn packets_larger_than_the_buffer_are_refused() {
    let mut c = connected(false);
    let big = publish_packet("t", &[7; 300], QoS::AtMostOnce, None, false);
    assert!(feed(&mut c, &big).is_err());
    assert!(!c.is_connected());
}

proptest! {
    /// However the bytes are split, the same events come out, and a session survives any
    /// split.
    #[test]
    fn any_split_gives_the_same_events(cuts in proptest::collection::vec(1usize..20, 0..20)) {
        let mut stream = connack(false);
        stream.extend(publish_packet("a/b", b"one", QoS::AtLeastOnce, Some(1), false));
        stream.extend(publish_packet("a/c", b"two", QoS::ExactlyOnce, Some(2), false));
        stream.extend(ack(AckKind::Pubrel, 2));
        stream.extend(publish_packet("a/d", &[9; 100], QoS::AtMostOnce, None, false));
        let whole = {
            let mut c = Lite::new();
            c.connect(&LiteOptions::new("n"), 0).unwrap();
            feed(&mut c, &stream).unwrap()
        };
        prop_assert_eq!(whole.len(), 4);
        let mut c = Lite::new();
        c.connect(&LiteOptions::new("n"), 0).unwrap();
        let mut seen = Vec::new();
        let mut rest = &stream[..];
        for cut in cuts {
            let n = cut.min(rest.len());
            seen.extend(feed(&mut c, &rest[..n]).unwrap());
            rest = &rest[n..];
        }
        seen.extend(feed(&mut c, rest).unwrap());
        prop_assert_eq!(seen, whole);
    }

    /// Arbitrary bytes from a broker never panic; an error leaves the client disconnected.
    #[test]
    fn arbitrary_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut c = connected(false);
        let _ = c.publish("a", b"x", QoS::ExactlyOnce, false, 1);
        if feed(&mut c, &bytes).is_err() {
            prop_assert!(!c.is_connected());
        }
        let _ = c.handle_timeout(100_000);
        // Whatever it answered is well-formed packets.
        packets(c.output());
    }
}

//! The client against a scripted broker: packets built with the packet layer, the client's
//! output decoded with it.

use std::string::String;
use std::vec::Vec;

use super::*;
use crate::mqtt::packet::PacketError;
use crate::mqtt::packet::connect::{Connack, Connect, Disconnect};
use crate::mqtt::packet::publish::{Ack, AckKind, Publish, QoS, Version};
use crate::mqtt::packet::subscribe::SubAck;
use crate::mqtt::packet::wire::{FixedHeader, PacketType, WireError};
use crate::mqtt::reason::ReasonCode;

const MAX: u32 = 1 << 20;

/// Splits the client's output into packets.
fn sent(c: &mut Client) -> Vec<(FixedHeader, Vec<u8>)> {
    let mut out = Vec::new();
    c.take_output(&mut out);
    let mut rest = &out[..];
    let mut packets = Vec::new();
    while !rest.is_empty() {
        let (h, len) = FixedHeader::parse(rest, MAX).unwrap().unwrap();
        let end = len + h.remaining as usize;
        packets.push((h, rest[len..end].to_vec()));
        rest = &rest[end..];
    }
    packets
}

fn kinds(packets: &[(FixedHeader, Vec<u8>)]) -> Vec<PacketType> {
    packets.iter().map(|(h, _)| h.kind).collect()
}

fn encode(f: impl Fn(&mut [u8]) -> Result<usize, PacketError>) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let n = f(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn connack(session_present: bool, edit: impl Fn(&mut Connack<'_>)) -> Vec<u8> {
    let mut c = Connack { session_present, ..Connack::default() };
    edit(&mut c);
    encode(|b| c.encode(Version::V5, b))
}

fn ack(kind: AckKind, pid: u16) -> Vec<u8> {
    encode(|b| Ack::success(kind, pid).encode(Version::V5, b))
}

fn publish(topic: &str, payload: &[u8], qos: QoS, pid: Option<u16>) -> Vec<u8> {
    let mut p = Publish::new(topic, payload);
    p.qos = qos;
    p.packet_id = pid;
    encode(|b| p.encode(Version::V5, b))
}

fn events(c: &mut Client) -> Vec<Event> {
    core::iter::from_fn(|| c.poll_event()).collect()
}

/// A client connected to the scripted broker at t = 0, its output and events drained.
fn connected(opts: Options, edit: impl Fn(&mut Connack<'_>)) -> Client {
    let mut c = Client::new(opts);
    c.connect(0);
    assert_eq!(kinds(&sent(&mut c)), [PacketType::Connect]);
    c.handle_input(&connack(false, edit), 1).unwrap();
    assert!(c.is_connected());
    events(&mut c);
    c
}

fn qos1(topic: &str, body: &str) -> Message {
    Message::new(topic, body).with_qos(QoS::AtLeastOnce)
}

fn pid_of(body: &[u8]) -> u16 {
    let h = FixedHeader { kind: PacketType::Publish, flags: 0b0010, remaining: body.len() as u32 };
    Publish::decode(h, body, Version::V5, 0).unwrap().packet_id.unwrap()
}

#[test]
fn connect_carries_identity_credentials_will_and_session() {
    let mut o = Options::new("node-2a");
    o.username = Some("node-2a".into());
    o.password = Some(Password::new("s3cret"));
    o.will = Some(Message::new("tm/v1/2a/status", "offline").with_qos(QoS::AtLeastOnce).retained());
    o.keep_alive = 15;
    let mut c = Client::new(o);
    c.connect(0);
    let p = sent(&mut c);
    let (connect, _) = Connect::decode(&p[0].1).unwrap();
    assert_eq!(connect.client_id, "node-2a");
    assert_eq!(connect.keep_alive, 15);
    assert_eq!(connect.password.unwrap().0, b"s3cret");
    assert_eq!(connect.session_expiry, Some(3600));
    let will = connect.will.unwrap();
    assert_eq!((will.topic, will.payload, will.retain), ("tm/v1/2a/status", &b"offline"[..], true));
    assert!(!format!("{c:?}{:?}", c.options()).contains("s3cret"));
}

#[test]
fn the_birth_message_goes_first_on_every_connection() {
    let mut o = Options::new("a");
    o.birth = Some(Message::new("tm/v1/2a/status", "online").with_qos(QoS::AtLeastOnce).retained());
    let mut c = Client::new(o);
    c.publish(qos1("t", "queued"), 0).unwrap();
    for round in 0..2u64 {
        c.connect(round * 10);
        sent(&mut c);
        c.handle_input(&connack(round == 1, |_| {}), round * 10 + 1).unwrap();
        let p = sent(&mut c);
        let first = Publish::decode(p[0].0, &p[0].1, Version::V5, 0).unwrap();
        assert_eq!((first.topic, first.payload, first.retain), ("tm/v1/2a/status", &b"online"[..], true));
        c.connection_lost(round * 10 + 2);
    }
}

#[test]
fn qos1_is_delivered_on_puback() {
    let mut c = connected(Options::new("a"), |_| {});
    let id = c.publish(qos1("t/1", "x"), 2).unwrap();
    let p = sent(&mut c);
    assert_eq!(kinds(&p), [PacketType::Publish]);
    let pid = pid_of(&p[0].1);
    assert_eq!(c.in_flight(), 1);
    c.handle_input(&ack(AckKind::Puback, pid), 3).unwrap();
    assert_eq!(events(&mut c), [Event::Delivered(id)]);
    assert!(c.is_idle());
}

#[test]
fn qos2_outgoing_runs_the_four_way_handshake() {
    let mut c = connected(Options::new("a"), |_| {});
    let id = c.publish(Message::new("t", "x").with_qos(QoS::ExactlyOnce), 2).unwrap();
    let pid = pid_of(&sent(&mut c)[0].1);
    c.handle_input(&ack(AckKind::Pubrec, pid), 3).unwrap();
    assert_eq!(kinds(&sent(&mut c)), [PacketType::Pubrel]);
    assert!(events(&mut c).is_empty(), "not delivered before PUBCOMP");
    c.handle_input(&ack(AckKind::Pubcomp, pid), 4).unwrap();
    assert_eq!(events(&mut c), [Event::Delivered(id)]);
}

#[test]
fn a_refused_publish_reports_the_reason() {
    let mut c = connected(Options::new("a"), |_| {});
    let id = c.publish(qos1("t", "x"), 2).unwrap();
    let pid = pid_of(&sent(&mut c)[0].1);
    let nack = Ack { reason: 0x87, ..Ack::success(AckKind::Puback, pid) };
    c.handle_input(&encode(|b| nack.encode(Version::V5, b)), 3).unwrap();
    assert_eq!(events(&mut c), [Event::Failed { id, reason: ReasonCode::NOT_AUTHORIZED }]);
}

#[test]
fn qos2_incoming_is_handed_on_once() {
    let mut c = connected(Options::new("a"), |_| {});
    let p = publish("cmd/1", b"go", QoS::ExactlyOnce, Some(7));
    c.handle_input(&p, 2).unwrap();
    // The broker resends before our PUBREC reached it.
    let mut dup = p.clone();
    dup[0] |= 0b1000;
    c.handle_input(&dup, 3).unwrap();
    assert_eq!(kinds(&sent(&mut c)), [PacketType::Pubrec, PacketType::Pubrec]);
    assert_eq!(c.poll_message().unwrap().payload, b"go");
    assert_eq!(c.poll_message(), None);
    assert_eq!(c.stats().duplicates, 1);
    c.handle_input(&ack(AckKind::Pubrel, 7), 4).unwrap();
    assert_eq!(kinds(&sent(&mut c)), [PacketType::Pubcomp]);
    // After release the same id is a new message.
    c.handle_input(&p, 5).unwrap();
    assert!(c.poll_message().is_some());
}

#[test]
fn qos1_incoming_is_acknowledged() {
    let mut c = connected(Options::new("a"), |_| {});
    c.handle_input(&publish("cmd/1", b"go", QoS::AtLeastOnce, Some(9)), 2).unwrap();
    let p = sent(&mut c);
    let h = p[0].0;
    assert_eq!(Ack::decode(h, &p[0].1, Version::V5).unwrap(), Ack::success(AckKind::Puback, 9));
    assert_eq!(c.poll_message().unwrap().topic, "cmd/1");
}

#[test]
fn the_in_flight_window_honours_receive_maximum() {
    let mut c = connected(Options::new("a"), |c| c.receive_maximum = Some(2));
    let ids: Vec<_> = (0..5).map(|i| c.publish(qos1("t", &format!("{i}")), 2).unwrap()).collect();
    let first = sent(&mut c);
    assert_eq!(first.len(), 2, "two in flight at most");
    assert_eq!(c.queued(), 3);
    c.handle_input(&ack(AckKind::Puback, pid_of(&first[0].1)), 3).unwrap();
    let next = sent(&mut c);
    assert_eq!(next.len(), 1, "one acknowledged, one more sent");
    assert_eq!(events(&mut c), [Event::Delivered(ids[0])]);
}

#[test]
fn our_own_window_also_applies() {
    let mut o = Options::new("a");
    o.max_in_flight = 3;
    let mut c = connected(o, |_| {});
    for i in 0..10 {
        c.publish(qos1("t", &format!("{i}")), 2).unwrap();
    }
    assert_eq!(sent(&mut c).len(), 3);
}

#[test]
fn qos0_is_not_limited_by_the_window() {
    let mut c = connected(Options::new("a"), |c| c.receive_maximum = Some(1));
    for _ in 0..10 {
        c.publish(Message::new("t", "x"), 2).unwrap();
    }
    assert_eq!(sent(&mut c).len(), 10);
}

#[test]
fn keep_alive_pings_and_detects_a_dead_connection() {
    let mut o = Options::new("a");
    o.keep_alive = 10;
    let mut c = connected(o, |_| {});
    assert_eq!(c.next_timeout(), Some(10_000));
    c.handle_timeout(9_999).unwrap();
    assert!(sent(&mut c).is_empty());
    c.handle_timeout(10_000).unwrap();
    assert_eq!(kinds(&sent(&mut c)), [PacketType::Pingreq]);
    // An answer keeps the connection.
    c.handle_input(&[0xd0, 0], 10_050).unwrap();
    c.handle_timeout(20_000).unwrap();
    assert_eq!(kinds(&sent(&mut c)), [PacketType::Pingreq]);
    // No answer: dead after one more keep alive.
    assert_eq!(c.next_timeout(), Some(30_000));
    assert_eq!(c.handle_timeout(30_000), Err(ClientError::KeepAliveTimeout));
    assert!(!c.is_connected());
    assert_eq!(events(&mut c), [Event::Disconnected { error: Some(ClientError::KeepAliveTimeout) }]);
}

#[test]
fn a_silent_broker_is_pinged_even_while_we_publish() {
    let mut o = Options::new("a");
    o.keep_alive = 10;
    let mut c = connected(o, |_| {});
    for t in (1_000..12_000).step_by(1000) {
        c.publish(Message::new("t", "x"), t).unwrap();
        c.handle_timeout(t).unwrap();
    }
    assert!(kinds(&sent(&mut c)).contains(&PacketType::Pingreq));
}

#[test]
fn the_server_keep_alive_overrides_ours() {
    let mut o = Options::new("a");
    o.keep_alive = 60;
    let c = connected(o, |c| c.server_keep_alive = Some(5));
    assert_eq!(c.next_timeout(), Some(5_000), "5 s after CONNECT went out");
}

#[test]
fn connack_must_come_in_time() {
    let mut o = Options::new("a");
    o.connect_timeout_ms = 500;
    let mut c = Client::new(o);
    c.connect(0);
    assert_eq!(c.next_timeout(), Some(500));
    assert_eq!(c.handle_timeout(500), Err(ClientError::ConnectTimeout));
}

#[test]
fn a_refused_connection_is_a_typed_error() {
    let mut c = Client::new(Options::new("a"));
    c.connect(0);
    let refused = connack(false, |c| c.reason = 0x86);
    assert_eq!(c.handle_input(&refused, 1), Err(ClientError::Refused(ReasonCode::BAD_USER_NAME_OR_PASSWORD)));
    // 3.1.1 return codes are kept as sent, and map to the same MQTT 5 codes.
    let v3 = |code: u8| {
        let mut o = Options::new("a");
        o.version = Version::V3_1_1;
        let mut c = Client::new(o);
        c.connect(0);
        let connack = encode(|b| Connack { reason: code, ..Connack::default() }.encode(Version::V3_1_1, b));
        let r = c.handle_input(&connack, 1);
        (r, c.is_connected())
    };
    let (err, up) = v3(5);
    assert_eq!((err, up), (Err(ClientError::RefusedV3 { code: 5 }), false));
    let err = err.unwrap_err();
    assert_eq!(err.refusal(), Some(ReasonCode::NOT_AUTHORIZED));
    assert_eq!(err.to_string(), "connection refused: return code 5 (Not authorized)");
    assert!(err.is_permanent());
    assert!(!ClientError::RefusedV3 { code: 3 }.is_permanent(), "server unavailable: try again");
    // A code 3.1.1 does not define is not a success, and is kept.
    let (err, up) = v3(6);
    assert_eq!((err, up), (Err(ClientError::InvalidConnack { code: 6, version: "3.1.1" }), false));
    assert_eq!(
        err.unwrap_err().to_string(),
        "a CONNACK with the code 0x06, which MQTT 3.1.1 does not define"
    );
}

#[test]
fn an_mqtt_5_connack_code_outside_the_specification_is_not_a_success() {
    for code in [0x01u8, 0x06, 0x10, 0x8b, 0x8e, 0xff] {
        let mut c = Client::new(Options::new("a"));
        c.connect(0);
        let r = c.handle_input(&connack(false, |c| c.reason = code), 1);
        assert_eq!(r, Err(ClientError::InvalidConnack { code, version: "5" }), "{code:#04x}");
        assert!(!c.is_connected());
        assert!(!events(&mut c).iter().any(|e| matches!(e, Event::Connected { .. })), "{code:#04x}");
    }
}

#[test]
fn a_resumed_session_redelivers_with_dup_in_order() {
    let mut c = connected(Options::new("a"), |_| {});
    let a = c.publish(qos1("t", "a"), 2).unwrap();
    let b = c.publish(Message::new("t", "b").with_qos(QoS::ExactlyOnce), 2).unwrap();
    let _c = c.publish(Message::new("t", "c").with_qos(QoS::ExactlyOnce), 2).unwrap();
    let first = sent(&mut c);
    let pids: Vec<u16> = first.iter().map(|p| pid_of(&p.1)).collect();
    // b got as far as PUBREC; a and c are unacknowledged.
    c.handle_input(&ack(AckKind::Pubrec, pids[1]), 3).unwrap();
    sent(&mut c);
    c.connection_lost(4);
    assert_eq!(events(&mut c), [Event::Disconnected { error: Some(ClientError::ConnectionLost) }]);
    // Published while offline: waits in the queue.
    let d = c.publish(qos1("t", "d"), 5).unwrap();

    c.connect(100);
    let p = sent(&mut c);
    let (connect, _) = Connect::decode(&p[0].1).unwrap();
    assert!(!connect.clean_start, "a reconnect resumes the session");
    c.handle_input(&connack(true, |_| {}), 101).unwrap();
    let p = sent(&mut c);
    assert_eq!(
        kinds(&p),
        [PacketType::Publish, PacketType::Pubrel, PacketType::Publish, PacketType::Publish]
    );
    assert_eq!(p[0].0.flags & 0b1000, 0b1000, "DUP set");
    assert_eq!(pid_of(&p[0].1), pids[0]);
    assert_eq!(pid_of(&p[2].1), pids[2]);
    assert_eq!(p[3].0.flags & 0b1000, 0, "a first delivery has no DUP");
    assert_eq!(c.stats().redelivered, 2);
    c.handle_input(&ack(AckKind::Puback, pids[0]), 102).unwrap();
    c.handle_input(&ack(AckKind::Pubcomp, pids[1]), 102).unwrap();
    let ev = events(&mut c);
    assert_eq!(ev[1..], [Event::Delivered(a), Event::Delivered(b)]);
    let _ = d;
}

#[test]
fn a_lost_session_republishes_and_resubscribes() {
    let mut c = connected(Options::new("a"), |_| {});
    c.subscribe("cmd/#", QoS::AtLeastOnce).unwrap();
    let p = sent(&mut c);
    let suback = |pid| {
        encode(move |b| {
            SubAck { kind: PacketType::Suback, packet_id: pid, reason_string: None, codes: &[1] }
                .encode(Version::V5, b)
        })
    };
    let sub_pid = u16::from_be_bytes([p[0].1[0], p[0].1[1]]);
    c.handle_input(&suback(sub_pid), 2).unwrap();
    let a = c.publish(qos1("t", "a"), 3).unwrap();
    let b = c.publish(Message::new("t", "b").with_qos(QoS::ExactlyOnce), 3).unwrap();
    let p = sent(&mut c);
    c.handle_input(&ack(AckKind::Pubrec, pid_of(&p[1].1)), 4).unwrap();
    c.connection_lost(5);
    events(&mut c);

    c.connect(10);
    sent(&mut c);
    c.handle_input(&connack(false, |_| {}), 11).unwrap();
    let p = sent(&mut c);
    // Subscriptions first, then `a` again as a new message; `b` had reached the broker.
    assert_eq!(kinds(&p), [PacketType::Subscribe, PacketType::Publish]);
    assert_eq!(p[1].0.flags & 0b1000, 0);
    let resub = u16::from_be_bytes([p[0].1[0], p[0].1[1]]);
    c.handle_input(&suback(resub), 12).unwrap();
    c.handle_input(&ack(AckKind::Puback, pid_of(&p[1].1)), 12).unwrap();
    let ev = events(&mut c);
    assert_eq!(ev[0], Event::Connected { session_present: false });
    assert!(ev.contains(&Event::Delivered(b)));
    assert!(ev.contains(&Event::Resubscribed { filters: 1 }));
    assert!(ev.contains(&Event::Delivered(a)));
}

#[test]
fn a_refused_subscription_is_reported_and_not_repeated() {
    let mut c = connected(Options::new("a"), |_| {});
    c.subscribe("secret/#", QoS::AtLeastOnce).unwrap();
    let p = sent(&mut c);
    let pid = u16::from_be_bytes([p[0].1[0], p[0].1[1]]);
    let nack = SubAck { kind: PacketType::Suback, packet_id: pid, reason_string: None, codes: &[0x87] };
    c.handle_input(&encode(|b| nack.encode(Version::V5, b)), 2).unwrap();
    assert_eq!(
        events(&mut c),
        [Event::Subscribed {
            filters: vec![String::from("secret/#")],
            results: vec![Err(ReasonCode::NOT_AUTHORIZED)]
        }]
    );
    c.connection_lost(3);
    c.connect(4);
    sent(&mut c);
    c.handle_input(&connack(false, |_| {}), 5).unwrap();
    assert!(sent(&mut c).is_empty());
}

#[test]
fn the_offline_queue_is_bounded_and_expires() {
    let mut o = Options::new("a");
    o.queue.capacity = 2;
    let mut c = Client::new(o);
    let a = c.publish(Message::new("t", "a").with_expiry(1), 0).unwrap();
    c.publish(Message::new("t", "b"), 0).unwrap();
    let e = c.publish(Message::new("t", "c"), 0).unwrap_err();
    assert_eq!((e.reason, e.message.payload.as_slice()), (RejectReason::QueueFull, &b"c"[..]));
    c.handle_timeout(1_000).unwrap();
    assert_eq!(events(&mut c), [Event::Expired(a)]);
    c.publish(Message::new("t", "c"), 1_000).unwrap();
}

#[test]
fn message_expiry_sent_is_the_time_left() {
    let mut c = Client::new(Options::new("a"));
    c.publish(Message::new("t", "a").with_expiry(60), 0).unwrap();
    c.connect(20_000);
    sent(&mut c);
    c.handle_input(&connack(false, |_| {}), 20_000).unwrap();
    let p = sent(&mut c);
    let back = Publish::decode(p[0].0, &p[0].1, Version::V5, 0).unwrap();
    assert_eq!(back.properties.message_expiry, Some(40));
}

#[test]
fn bad_topics_are_refused_up_front() {
    let mut c = Client::new(Options::new("a"));
    let e = c.publish(Message::new("a/+/b", "x"), 0).unwrap_err();
    assert!(matches!(e.reason, RejectReason::InvalidTopic(_)));
    assert!(c.subscribe("a/#/b", QoS::AtMostOnce).is_err());
}

#[test]
fn too_large_for_the_broker_fails_without_sending() {
    // Queued while offline, before the broker said its limit: it fails when it would be sent.
    let mut c = Client::new(Options::new("a"));
    let id = c.publish(qos1("t", &"x".repeat(100)), 0).unwrap();
    c.connect(0);
    sent(&mut c);
    c.handle_input(&connack(false, |c| c.maximum_packet_size = Some(64)), 1).unwrap();
    assert!(sent(&mut c).is_empty());
    let ev = events(&mut c);
    assert_eq!(ev[1..], [Event::Failed { id, reason: ReasonCode::PACKET_TOO_LARGE }]);
    // Once the limit is known, such a message is refused at once.
    let r = c.publish(qos1("t", &"x".repeat(100)), 2).unwrap_err();
    assert!(matches!(r.reason, RejectReason::TooLarge { limit: SizeLimit::Packet, max: 64, .. }));
}

fn disconnect_reason(c: &mut Client) -> u8 {
    let p = sent(c);
    assert_eq!(kinds(&p), [PacketType::Disconnect]);
    Disconnect::decode(&p[0].1, Version::V5).unwrap().reason
}

#[test]
fn malformed_input_closes_with_the_spec_reason() {
    // QoS 3.
    let mut c = connected(Options::new("a"), |_| {});
    let mut p = publish("t", b"x", QoS::AtMostOnce, None);
    p[0] |= 0b0110;
    assert_eq!(c.handle_input(&p, 2), Err(ClientError::Packet(WireError::Qos3.into())));
    assert_eq!(disconnect_reason(&mut c), 0x81);
    assert!(!c.is_connected());

    // A packet over our maximum packet size.
    let mut o = Options::new("a");
    o.maximum_packet_size = 32;
    let mut c = connected(o, |_| {});
    let err = c.handle_input(&publish("t", &[0; 64], QoS::AtMostOnce, None), 2).unwrap_err();
    assert!(matches!(err, ClientError::Packet(PacketError::Wire(WireError::TooLarge { .. }))));
    assert_eq!(disconnect_reason(&mut c), 0x95);

    // A wildcard in a topic name.
    let mut c = connected(Options::new("a"), |_| {});
    let mut p = publish("a/b", b"x", QoS::AtMostOnce, None);
    p[5] = b'+';
    assert!(matches!(c.handle_input(&p, 2), Err(ClientError::Packet(PacketError::Topic(_)))));
    assert_eq!(disconnect_reason(&mut c), 0x81);

    // A remaining length of five bytes.
    let mut c = connected(Options::new("a"), |_| {});
    let err = c.handle_input(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01], 2).unwrap_err();
    assert_eq!(err, ClientError::Packet(WireError::VarIntTooLong.into()));

    // Wrong fixed-header flags on PUBACK.
    let mut c = connected(Options::new("a"), |_| {});
    let err = c.handle_input(&[0x42, 0x02, 0x00, 0x01], 2).unwrap_err();
    assert!(matches!(err, ClientError::Packet(PacketError::Wire(WireError::BadFlags { .. }))));

    // Packet id 0.
    let mut c = connected(Options::new("a"), |_| {});
    let err = c.handle_input(&[0x40, 0x02, 0x00, 0x00], 2).unwrap_err();
    assert_eq!(err, ClientError::Packet(WireError::PacketIdZero.into()));

    // Ill-formed UTF-8 in a topic.
    let mut c = connected(Options::new("a"), |_| {});
    let err = c.handle_input(&[0x30, 0x05, 0x00, 0x02, 0xc3, 0x28, b'x'], 2).unwrap_err();
    assert_eq!(err, ClientError::Packet(WireError::BadUtf8.into()));
}

#[test]
fn topic_aliases_are_resolved_and_checked() {
    let mut o = Options::new("a");
    o.topic_alias_maximum = 2;
    let mut c = connected(o, |_| {});
    let with_alias = |topic: &str, alias| {
        let mut p = Publish::new(topic, b"v");
        p.properties.topic_alias = Some(alias);
        encode(move |b| p.encode(Version::V5, b))
    };
    c.handle_input(&with_alias("tm/v1/2a/commands", 1), 2).unwrap();
    c.handle_input(&with_alias("", 1), 3).unwrap();
    assert_eq!(c.poll_message().unwrap().topic, "tm/v1/2a/commands");
    assert_eq!(c.poll_message().unwrap().topic, "tm/v1/2a/commands");
    // Unknown alias.
    let err = c.handle_input(&with_alias("", 2), 4).unwrap_err();
    assert_eq!(err.disconnect_reason(), Some(ReasonCode::TOPIC_ALIAS_INVALID));
    // Out of range.
    let mut o = Options::new("a");
    o.topic_alias_maximum = 2;
    let mut c = connected(o, |_| {});
    let err = c.handle_input(&with_alias("t", 3), 2).unwrap_err();
    assert_eq!(err, ClientError::Packet(PacketError::TopicAlias { alias: 3, max: 2 }));
    assert_eq!(disconnect_reason(&mut c), 0x94);
}

#[test]
fn more_qos2_than_announced_is_taken_and_counted() {
    let mut o = Options::new("a");
    o.receive_maximum = 2;
    let mut c = connected(o, |_| {});
    // A broker that ignores our Receive Maximum of 2 (as mosquitto 2.0.11 does): every
    // message is received once and acknowledged, and the excess counted.
    for pid in 1..=200u16 {
        c.handle_input(&publish("t", &pid.to_be_bytes(), QoS::ExactlyOnce, Some(pid)), 2).unwrap();
    }
    assert!(c.is_connected());
    assert_eq!(kinds(&sent(&mut c)), vec![PacketType::Pubrec; 200]);
    assert_eq!(c.stats().receive_maximum_exceeded, 198);
    let mut got = Vec::new();
    while let Some(m) = c.poll_message() {
        got.push(u16::from_be_bytes([m.payload[0], m.payload[1]]));
    }
    assert_eq!(got, (1..=200).collect::<Vec<_>>());
    // Released, each completed once; a repeat before release is not delivered twice.
    c.handle_input(&publish("t", b"again", QoS::ExactlyOnce, Some(7)), 3).unwrap();
    assert!(c.poll_message().is_none());
    for pid in 1..=200u16 {
        c.handle_input(&ack(AckKind::Pubrel, pid), 4).unwrap();
    }
    let p = sent(&mut c);
    assert_eq!(kinds(&p[1..]), vec![PacketType::Pubcomp; 200]);
}

#[test]
fn mqtt_3_1_1_has_no_receive_maximum() {
    let mut o = Options::new("a");
    o.version = Version::V3_1_1;
    o.receive_maximum = 2;
    let mut c = Client::new(o);
    c.connect(0);
    sent(&mut c);
    c.handle_input(&encode(|b| Connack::default().encode(Version::V3_1_1, b)), 1).unwrap();
    for pid in 1..=10u16 {
        let mut p = Publish::new("t", b"x");
        p.qos = QoS::ExactlyOnce;
        p.packet_id = Some(pid);
        c.handle_input(&encode(|b| p.encode(Version::V3_1_1, b)), 2).unwrap();
    }
    assert!(c.is_connected());
    assert_eq!(c.stats().receive_maximum_exceeded, 0);
    assert_eq!(c.stats().received, 10);
}

#[test]
fn acknowledgements_due_are_written_before_a_disconnect() {
    let mut c = connected(Options::new("a"), |_| {});
    // Two QoS 2 messages and a QoS 1, then a malformed packet, in one read.
    let mut input = publish("t", b"1", QoS::ExactlyOnce, Some(1));
    input.extend(publish("t", b"2", QoS::ExactlyOnce, Some(2)));
    input.extend(publish("t", b"3", QoS::AtLeastOnce, Some(3)));
    input.extend([0x36, 0x06, 0x00, 0x01, b'a', 0x00, 0x01, 0x00]); // QoS 3
    c.handle_input(&input, 2).unwrap_err();
    let p = sent(&mut c);
    assert_eq!(
        kinds(&p),
        [PacketType::Pubrec, PacketType::Pubrec, PacketType::Puback, PacketType::Disconnect],
        "the broker learns the first three arrived, then why the connection ends"
    );
}

#[test]
fn a_server_disconnect_is_surfaced() {
    let mut c = connected(Options::new("a"), |_| {});
    let d = Disconnect { reason: 0x8e, ..Disconnect::default() };
    let err = c.handle_input(&encode(|b| d.encode(Version::V5, b)), 2).unwrap_err();
    assert_eq!(err, ClientError::ServerDisconnect(ReasonCode::SESSION_TAKEN_OVER));
}

#[test]
fn input_split_into_single_bytes_is_the_same() {
    let mut c = Client::new(Options::new("a"));
    c.connect(0);
    let mut all = connack(false, |_| {});
    all.extend(publish("a/b", b"hello", QoS::AtLeastOnce, Some(3)));
    for b in &all {
        c.handle_input(std::slice::from_ref(b), 1).unwrap();
    }
    assert!(c.is_connected());
    assert_eq!(c.poll_message().unwrap().payload, b"hello");
}

#[test]
fn disconnect_closes_and_refuses_more() {
    let mut c = connected(Options::new("a"), |_| {});
    c.disconnect(2);
    assert_eq!(disconnect_reason(&mut c), 0);
    assert!(c.is_closed());
    assert_eq!(c.publish(Message::new("t", "x"), 3).unwrap_err().reason, RejectReason::Closed);
}

#[test]
fn mqtt_3_1_1_session_flags_and_flow() {
    let mut o = Options::new("a");
    o.version = Version::V3_1_1;
    let mut c = Client::new(o);
    c.connect(0);
    let p = sent(&mut c);
    let (connect, version) = Connect::decode(&p[0].1).unwrap();
    assert_eq!(version, Version::V3_1_1);
    assert!(!connect.clean_start, "a kept session means clean_session = 0");
    c.handle_input(&encode(|b| Connack::default().encode(Version::V3_1_1, b)), 1).unwrap();
    c.publish(qos1("t", "x"), 2).unwrap();
    let p = sent(&mut c);
    let pid = u16::from_be_bytes([p[0].1[3], p[0].1[4]]);
    c.handle_input(&encode(|b| Ack::success(AckKind::Puback, pid).encode(Version::V3_1_1, b)), 3).unwrap();
    assert!(c.is_idle());
}

proptest::proptest! {
    #[test]
    fn arbitrary_input_never_panics(chunks in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), 0..8)) {
        let mut c = connected(Options::new("a"), |_| {});
        c.publish(qos1("t", "x"), 1).unwrap();
        c.subscribe("a/#", QoS::ExactlyOnce).unwrap();
        for chunk in &chunks {
            if c.handle_input(chunk, 2).is_err() {
                break;
            }
        }
        let _ = c.handle_timeout(100_000);
        // The session survives whatever happened to the connection.
        proptest::prop_assert!(c.queued() + c.in_flight() <= 1);
    }
}

#[test]
fn a_message_that_can_never_fit_is_refused_at_once() {
    let mut o = Options::new("a");
    o.queue.max_bytes = 1000;
    let mut c = connected(o, |c| c.maximum_packet_size = Some(600));
    let big = Message::new("t", vec![0u8; 2000]).with_qos(QoS::AtLeastOnce);
    let r = c.publish(big, 2).unwrap_err();
    assert_eq!(r.reason, RejectReason::TooLarge { size: 2001, limit: SizeLimit::Queue, max: 1000 });
    assert_eq!(
        r.to_string(),
        "message not queued: the message is 2001 bytes, over the offline queue's max_bytes of 1000 bytes"
    );
    assert_eq!(r.message.payload.len(), 2000, "handed back whole");
    // Within the queue's bound but over the broker's packet size.
    let r = c.publish(Message::new("t", vec![0u8; 700]), 2).unwrap_err();
    assert_eq!(r.reason, RejectReason::TooLarge { size: 705, limit: SizeLimit::Packet, max: 600 });
    // One that fits goes.
    c.publish(Message::new("t", vec![0u8; 500]), 2).unwrap();
}

#[test]
fn an_application_that_reads_events_loses_none() {
    let mut o = Options::new("a");
    o.max_events = 8;
    o.max_in_flight = 1000;
    let mut c = connected(o, |_| {});
    let ids: Vec<_> = (0..100).map(|i| c.publish(qos1("t", &i.to_string()), 2).unwrap()).collect();
    let packets = sent(&mut c);
    assert_eq!(packets.len(), 100);
    assert!(c.poll_event().is_none(), "reading events (none yet) says the application wants them");
    // All 100 PUBACKs in one read: none dropped, and the client asks for no more input
    // until the application catches up.
    let acks: Vec<u8> = packets.iter().flat_map(|(_, body)| ack(AckKind::Puback, pid_of(body))).collect();
    c.handle_input(&acks, 3).unwrap();
    assert!(!c.wants_input());
    let mut delivered = Vec::new();
    while let Some(e) = c.poll_event() {
        if let Event::Delivered(id) = e {
            delivered.push(id);
        }
    }
    assert_eq!(delivered, ids);
    assert_eq!(c.stats().events_dropped, 0);
    assert!(c.wants_input());
}

#[test]
fn an_application_that_never_reads_events_keeps_the_latest() {
    let mut o = Options::new("a");
    o.max_events = 8;
    o.max_in_flight = 1000;
    let mut c = Client::new(o);
    c.connect(0);
    sent(&mut c);
    c.handle_input(&connack(false, |_| {}), 1).unwrap();
    for i in 0..20 {
        c.publish(qos1("t", &i.to_string()), 2).unwrap();
    }
    let acks: Vec<u8> =
        sent(&mut c).iter().flat_map(|(_, body)| ack(AckKind::Puback, pid_of(body))).collect();
    c.handle_input(&acks, 3).unwrap();
    assert!(c.wants_input(), "no reader: the connection is never held up by events");
    // Connected and 20 Delivered: the latest 8 kept.
    assert_eq!(c.stats().events_dropped, 13);
}

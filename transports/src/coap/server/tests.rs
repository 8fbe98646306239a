use std::vec::Vec;

use super::*;
use crate::coap::OptionNumber;

type S = Server<u8, 4, 128>;

fn server() -> S {
    Server::new(Params::default(), 1000)
}

fn request(ty: Type, code: Code, id: u16, token: &[u8], options: &[(u16, &[u8])]) -> Vec<u8> {
    let mut buf = [0u8; 128];
    let mut b = Builder::new(&mut buf, ty, code, id, token).unwrap();
    for (n, v) in options {
        b.option(OptionNumber(*n), v).unwrap();
    }
    b.finish().to_vec()
}

fn parsed(bytes: &[u8]) -> (Type, Code, u16, Vec<u8>, Vec<u8>) {
    let m = Message::parse(bytes).unwrap();
    (m.ty, m.code, m.message_id, m.token.to_vec(), m.payload.to_vec())
}

#[test]
fn a_non_request_gets_a_non_response_and_its_duplicate_the_same() {
    let mut s = server();
    let req = request(Type::Non, Code::GET, 5, &[1, 2], &[]);
    let Incoming::Request(r) = s.handle_datagram(0, 9, &req) else { panic!() };
    let answer = s.respond(0, &r, Code::CONTENT, |_| Ok(()), b"x").unwrap().to_vec();
    let (ty, code, id, token, _) = parsed(&answer);
    assert_eq!((ty, code, token), (Type::Non, Code::CONTENT, vec![1, 2]));
    assert_ne!(id, 5, "a NON response has a Message ID of its own");
    assert_eq!(s.handle_datagram(10, 9, &req), Incoming::Reply(&answer[..]));
    assert_eq!(s.stats().requests, 1);
    assert_eq!(s.stats().duplicates, 1);
}

#[test]
fn the_same_message_id_from_another_peer_is_another_request() {
    let mut s = server();
    let req = request(Type::Con, Code::GET, 5, &[], &[]);
    assert!(matches!(s.handle_datagram(0, 1, &req), Incoming::Request(_)));
    assert!(matches!(s.handle_datagram(0, 2, &req), Incoming::Request(_)));
    // A duplicate before the answer: not processed again, nothing to send yet.
    assert_eq!(s.handle_datagram(0, 1, &req), Incoming::Ignored);
    // After the exchange lifetime it is new again.
    assert!(matches!(s.handle_datagram(247_000, 1, &req), Incoming::Request(_)));
}

#[test]
fn an_unknown_critical_option_is_answered_bad_option() {
    let mut s = server();
    let req = request(Type::Con, Code::GET, 6, &[3], &[(11, b"t"), (2049, b"")]);
    let Incoming::Reply(answer) = s.handle_datagram(0, 1, &req) else { panic!() };
    let (ty, code, id, token, payload) = parsed(answer);
    assert_eq!((ty, code, id, token), (Type::Ack, Code::BAD_OPTION, 6, vec![3]));
    assert_eq!(payload, b"bad option 2049");
    // An unknown elective option is ignored: the request goes to the application.
    let req = request(Type::Con, Code::GET, 7, &[], &[(11, b"t"), (2048, b"")]);
    assert!(matches!(s.handle_datagram(0, 1, &req), Incoming::Request(_)));
    assert_eq!(s.stats().bad_options, 1);
}

#[test]
fn pings_and_malformed_confirmables_are_reset() {
    let mut s = server();
    let ping = request(Type::Con, Code::EMPTY, 0x0a0b, &[], &[]);
    let Incoming::Reply(rst) = s.handle_datagram(0, 1, &ping) else { panic!() };
    assert_eq!((parsed(rst).0, parsed(rst).1, parsed(rst).2), (Type::Rst, Code::EMPTY, 0x0a0b));
    // A confirmable response sent to a server: RST too.
    let stray = request(Type::Con, Code::CONTENT, 0x0c0d, &[1], &[]);
    assert!(matches!(s.handle_datagram(0, 1, &stray), Incoming::Reply(_)));
    // TKL 9 in a CON: RST with its Message ID; the same in a NON: ignored.
    let Incoming::Reply(rst) = s.handle_datagram(0, 1, &[0x49, 0x01, 0x12, 0x34]) else { panic!() };
    assert_eq!((parsed(rst).0, parsed(rst).2), (Type::Rst, 0x1234));
    assert_eq!(s.handle_datagram(0, 1, &[0x59, 0x01, 0x12, 0x35]), Incoming::Ignored);
    assert_eq!(s.handle_datagram(0, 1, &[0x40]), Incoming::Ignored);
    assert_eq!(s.stats().malformed, 3);
}

#[test]
fn a_full_cache_forgets_the_oldest_first() {
    let mut s = server();
    for id in 0..6 {
        let req = request(Type::Con, Code::GET, id, &[], &[]);
        let Incoming::Request(r) = s.handle_datagram(0, 1, &req) else { panic!() };
        s.respond(0, &r, Code::CONTENT, |_| Ok(()), b"").unwrap();
    }
    assert_eq!(s.stats().evicted, 2);
    // The newest are answered from the cache; the evicted ones count as new.
    assert!(matches!(
        s.handle_datagram(1, 1, &request(Type::Con, Code::GET, 5, &[], &[])),
        Incoming::Reply(_)
    ));
    assert!(matches!(
        s.handle_datagram(1, 1, &request(Type::Con, Code::GET, 0, &[], &[])),
        Incoming::Request(_)
    ));
}

#[test]
fn the_client_and_the_server_talk_through_a_lossy_link() {
    use crate::coap::client::{Client, Event};
    let mut roll = crate::coap::percent_rolls(0x1234_5677);
    let mut c: Client<4, 128> = Client::new(Params::default(), 42);
    let mut s: Server<u8, 64, 128> = Server::new(Params::default(), 7);
    let mut done = std::collections::HashMap::new();
    let (mut now, mut started) = (0u64, 0u32);
    while started < 100 || c.outstanding() > 0 {
        if started < 100 && c.outstanding() == 0 {
            let body = started.to_be_bytes();
            c.request(
                now,
                Type::Con,
                Code::POST,
                |b| b.option(OptionNumber::URI_PATH, b"n").map(|_| ()),
                &body,
            )
            .unwrap();
            started += 1;
        }
        let mut back = Vec::new();
        while let Some(d) = c.poll_transmit(now) {
            let d = d.to_vec();
            if roll() < 30 {
                continue;
            }
            match s.handle_datagram(now, 1, &d) {
                Incoming::Request(r) => {
                    let n = u32::from_be_bytes(r.message.payload.try_into().unwrap());
                    back.push(
                        s.respond(now, &r, Code::CHANGED, |_| Ok(()), &(n * 2).to_be_bytes())
                            .unwrap()
                            .to_vec(),
                    );
                }
                Incoming::Reply(b) => back.push(b.to_vec()),
                _ => {}
            }
        }
        for d in back {
            if roll() < 30 {
                continue;
            }
            if let Some(Event::Response { message, .. }) = c.handle_datagram(now, &d) {
                let n = u32::from_be_bytes(message.payload.try_into().unwrap());
                *done.entry(n).or_insert(0) += 1;
            }
        }
        now += 250;
        while c.handle_timeout(now).is_some() {}
    }
    assert!(done.values().all(|&n| n == 1), "no response reported twice");
    // A try gets there and back with 0.7 × 0.7 = 0.49; all five fail with 0.51^5 ≈ 3.5 %.
    assert!(done.len() >= 90, "{} of 100 answered", done.len());
    assert!(s.stats().requests <= 100, "each request processed at most once: {}", s.stats().requests);
    assert!(s.stats().duplicates > 0, "retransmissions reached the server and were answered from its cache");
}

#[test]
fn a_separate_response_is_retransmitted_until_acknowledged() {
    use crate::coap::client::{Client, Event};
    let mut c: Client<4, 128> = Client::new(Params::default(), 5);
    let mut s: Server<u8, 8, 128, 2> = Server::new(Params::default(), 70);
    let token = c.request(0, Type::Con, Code::GET, |_| Ok(()), &[]).unwrap();
    let req = c.poll_transmit(0).unwrap().to_vec();
    let Incoming::Request(r) = s.handle_datagram(0, 1, &req) else { panic!() };
    let tok = r.message.token.to_vec();
    // Accepted now: the empty ACK stops the client's retransmissions.
    let ack = s.accept(&r).unwrap().to_vec();
    assert_eq!(parsed(&ack), (Type::Ack, Code::EMPTY, parsed(&req).2, vec![], vec![]));
    assert_eq!(c.handle_datagram(10, &ack), None);
    // A retransmission of the request that crossed the ACK gets the ACK again.
    assert_eq!(s.handle_datagram(20, 1, &req), Incoming::Reply(&ack[..]));
    // The answer, later, by CON; its first copy is lost.
    let (id, first) = s.respond_later(5_000, 1, &tok, Code::CONTENT, |_| Ok(()), b"late", 0).unwrap();
    let first = first.to_vec();
    assert_eq!(s.next_timeout(), Some(7_000));
    assert_eq!(s.handle_timeout(7_000), None);
    let (peer, again) = s.poll_transmit().unwrap();
    assert_eq!((peer, again), (1, &first[..]), "the same message again");
    let again = again.to_vec();
    match c.handle_datagram(7_010, &again) {
        Some(Event::Response { token: t, message }) => {
            assert_eq!((t, message.payload), (token, &b"late"[..]))
        }
        other => panic!("{other:?}"),
    }
    let client_ack = c.poll_transmit(7_010).unwrap().to_vec();
    assert_eq!(s.handle_datagram(7_020, 1, &client_ack), Incoming::Acknowledged { peer: 1, message_id: id });
    assert_eq!(s.next_timeout(), None, "delivered: no more retransmissions");
}

#[test]
fn a_separate_response_rejected_or_never_acknowledged_is_reported() {
    let mut s: Server<u8, 8, 128, 2> = Server::new(Params::default(), 70);
    let (a, _) = s.respond_later(0, 1, &[1], Code::CONTENT, |_| Ok(()), b"", 0).unwrap();
    let (b, _) = s.respond_later(0, 2, &[2], Code::CONTENT, |_| Ok(()), b"", 0).unwrap();
    assert_eq!(
        s.respond_later(0, 3, &[3], Code::CONTENT, |_| Ok(()), b"", 0).unwrap_err(),
        SeparateError::Busy
    );
    let rst = request(Type::Rst, Code::EMPTY, a, &[], &[]);
    assert_eq!(s.handle_datagram(1, 1, &rst), Incoming::Rejected { peer: 1, message_id: a });
    // Peer 2 never answers: four retransmissions, then given up at 31 × 2 s.
    let mut sent = 0;
    let gave_up = loop {
        let now = s.next_timeout().unwrap();
        if let Some(u) = s.handle_timeout(now) {
            break (now, u);
        }
        while s.poll_transmit().is_some() {
            sent += 1;
        }
    };
    assert_eq!(gave_up, (62_000, Unacknowledged { peer: 2, message_id: b }));
    assert_eq!(sent, 4);
}

fn observe_get(id: u16, token: &[u8], value: u8) -> Vec<u8> {
    let value: &[u8] = if value == 0 { &[] } else { &[value] };
    request(Type::Con, Code::GET, id, token, &[(6, value), (11, b"t")])
}

fn observe_value(bytes: &[u8]) -> Option<u32> {
    crate::coap::uint_value(Message::parse(bytes).unwrap().option(OptionNumber::OBSERVE)?)
}

#[test]
fn observers_register_get_notified_and_deregister() {
    let mut s: Server<u8, 8, 128, 2, 4> = Server::new(Params::default(), 500);
    let req = observe_get(1, &[0xaa], 0);
    let Incoming::Request(r) = s.handle_datagram(0, 1, &req) else { panic!() };
    let first = s.observe(0, &r, 7).unwrap();
    let answer = s
        .respond(0, &r, Code::CONTENT, |b| b.uint_option(OptionNumber::OBSERVE, first).map(|_| ()), b"20")
        .unwrap()
        .to_vec();
    assert_eq!(observe_value(&answer), Some(first));
    assert_eq!(s.observers_of(7), 1);
    // Two notifications: NON, the observer's token, increasing Observe numbers.
    for (i, v) in [b"21", b"22"].iter().enumerate() {
        assert_eq!(s.notify(1_000 * i as u64, 7, Code::CONTENT, |_| Ok(()), *v, 0), Ok(1));
        let (peer, n) = s.poll_transmit().unwrap();
        let (ty, code, _, token, payload) = parsed(n);
        assert_eq!((peer, ty, code, token, payload), (1, Type::Non, Code::CONTENT, vec![0xaa], v.to_vec()));
        assert_eq!(observe_value(n), Some(first + 1 + i as u32));
    }
    assert_eq!(s.notify(3_000, 8, Code::CONTENT, |_| Ok(()), b"other", 0), Ok(0), "another resource");
    // A GET with Observe 1 and the same token deregisters.
    let off = observe_get(2, &[0xaa], 1);
    let Incoming::Request(r) = s.handle_datagram(4_000, 1, &off) else { panic!() };
    assert_eq!(s.observe(4_000, &r, 7), None);
    assert_eq!(s.observers_of(7), 0);
}

#[test]
fn an_rst_to_a_notification_cancels_the_observation() {
    let mut s: Server<u8, 8, 128, 2, 4> = Server::new(Params::default(), 500);
    let on = observe_get(1, &[1], 0);
    let Incoming::Request(r) = s.handle_datagram(0, 1, &on) else { panic!() };
    s.observe(0, &r, 7).unwrap();
    s.notify(10, 7, Code::CONTENT, |_| Ok(()), b"x", 0).unwrap();
    let (_, n) = s.poll_transmit().unwrap();
    let id = parsed(n).2;
    let rst = request(Type::Rst, Code::EMPTY, id, &[], &[]);
    assert_eq!(s.handle_datagram(20, 1, &rst), Incoming::Rejected { peer: 1, message_id: id });
    assert_eq!(s.observers_of(7), 0);
}

#[test]
fn a_notification_a_day_is_confirmable_and_an_observer_that_never_acknowledges_is_dropped() {
    let day = 24 * 3600 * 1000;
    let mut s: Server<u8, 8, 128, 2, 4> = Server::new(Params::default(), 500);
    let on = observe_get(1, &[1], 0);
    let Incoming::Request(r) = s.handle_datagram(0, 1, &on) else { panic!() };
    s.observe(0, &r, 7).unwrap();
    s.notify(day - 1, 7, Code::CONTENT, |_| Ok(()), b"a", 0).unwrap();
    assert_eq!(parsed(s.poll_transmit().unwrap().1).0, Type::Non);
    s.notify(day, 7, Code::CONTENT, |_| Ok(()), b"b", 0).unwrap();
    let (_, n) = s.poll_transmit().unwrap();
    assert_eq!(parsed(n).0, Type::Con, "24 hours since the registration");
    // Never acknowledged: retransmitted, given up, and the observer with it.
    let mut gave_up = None;
    while gave_up.is_none() {
        let now = s.next_timeout().unwrap();
        gave_up = s.handle_timeout(now);
        while s.poll_transmit().is_some() {}
    }
    assert_eq!(s.observers_of(7), 0);
}

#[test]
fn confirmable_notifications_name_each_observer_and_wait_for_a_free_slot() {
    let mut s: Server<u8, 8, 128, 1, 4> = Server::new(Params::default(), 500);
    for peer in [1, 2] {
        let on = observe_get(1, &[peer], 0);
        let Incoming::Request(r) = s.handle_datagram(0, peer, &on) else { panic!() };
        s.observe(0, &r, 7).unwrap();
    }
    let mut sent = Vec::new();
    let n = s.notify_confirmable(5, 7, Code::CONTENT, |_| Ok(()), b"cmd", 0, |p, id| sent.push((p, id)));
    // One retransmission slot: one observer is notified, the other skipped and not counted.
    assert_eq!(n, Ok(1));
    let (peer, bytes) = s.poll_transmit().unwrap();
    assert_eq!((peer, parsed(bytes).0, parsed(bytes).2), (sent[0].0, Type::Con, sent[0].1));
    let ack = request(Type::Ack, Code::EMPTY, sent[0].1, &[], &[]);
    assert_eq!(s.handle_datagram(6, peer, &ack), Incoming::Acknowledged { peer, message_id: sent[0].1 });
    let n = s.notify_confirmable(7, 7, Code::CONTENT, |_| Ok(()), b"cmd", 0, |p, id| sent.push((p, id)));
    assert_eq!(n, Ok(1));
    assert_eq!(sent.len(), 2);
}

/// Our client observing our server: registration, notifications in order and out of order,
/// a confirmable one acknowledged, and `forget` ending the observation on both sides.
#[test]
fn the_client_observes_the_server() {
    use crate::coap::client::{Client, Event};
    let mut c: Client<4, 128> = Client::new(Params::default(), 11);
    let mut s: Server<u8, 8, 128, 2, 4> = Server::new(Params::default(), 900);
    let token = c.observe(0, Type::Con, |b| b.option(OptionNumber::URI_PATH, b"t").map(|_| ())).unwrap();
    let req = c.poll_transmit(0).unwrap().to_vec();
    let Incoming::Request(r) = s.handle_datagram(0, 1, &req) else { panic!() };
    let n = s.observe(0, &r, 7).expect("a GET with Observe 0");
    let answer = s
        .respond(0, &r, Code::CONTENT, |b| b.uint_option(OptionNumber::OBSERVE, n).map(|_| ()), b"20")
        .unwrap()
        .to_vec();
    assert!(matches!(c.handle_datagram(1, &answer), Some(Event::Response { token: t, .. }) if t == token));
    assert_eq!(c.outstanding(), 1, "the observation stays open");
    // Three notifications; the network delivers the second after the third.
    let mut notes = Vec::new();
    for (i, v) in [b"21", b"22", b"23"].iter().enumerate() {
        s.notify(10 + i as u64, 7, Code::CONTENT, |_| Ok(()), *v, 0).unwrap();
        notes.push(s.poll_transmit().unwrap().1.to_vec());
    }
    let mut seen = Vec::new();
    for d in [&notes[0], &notes[2], &notes[1]] {
        if let Some(Event::Notification { token: t, message }) = c.handle_datagram(20, d) {
            assert_eq!(t, token);
            seen.push(message.payload.to_vec());
        }
    }
    assert_eq!(seen, [b"21".to_vec(), b"23".to_vec()], "the late 22 is stale and not reported");
    assert_eq!(c.stats().stale, 1);
    // A day later the notification is confirmable: the client acknowledges it.
    s.notify(24 * 3600 * 1000, 7, Code::CONTENT, |_| Ok(()), b"24", 0).unwrap();
    let con = s.poll_transmit().unwrap().1.to_vec();
    assert!(matches!(c.handle_datagram(30, &con), Some(Event::Notification { .. })));
    let ack = c.poll_transmit(30).unwrap().to_vec();
    assert!(matches!(s.handle_datagram(31, 1, &ack), Incoming::Acknowledged { .. }));
    // The client forgets it: the next notification is rejected, and the server drops the
    // observer.
    assert!(c.forget(token));
    s.notify(40, 7, Code::CONTENT, |_| Ok(()), b"25", 0).unwrap();
    let last = s.poll_transmit().unwrap().1.to_vec();
    assert_eq!(c.handle_datagram(41, &last), None);
    let rst = c.poll_transmit(41).unwrap().to_vec();
    assert!(matches!(s.handle_datagram(42, 1, &rst), Incoming::Rejected { .. }));
    assert_eq!(s.observers_of(7), 0);
}

/// Proactive cancellation (RFC 7641 §3.6): a GET with Observe 1 and the observation's token.
#[test]
fn the_client_cancels_an_observation_by_a_get_with_observe_1() {
    use crate::coap::client::{Client, Event};
    let mut c: Client<4, 128> = Client::new(Params::default(), 12);
    let mut s: Server<u8, 8, 128, 2, 4> = Server::new(Params::default(), 900);
    let path = |b: &mut Builder<'_>| b.option(OptionNumber::URI_PATH, b"t").map(|_| ());
    let token = c.observe(0, Type::Con, path).unwrap();
    let req = c.poll_transmit(0).unwrap().to_vec();
    let Incoming::Request(r) = s.handle_datagram(0, 1, &req) else { panic!() };
    let n = s.observe(0, &r, 7).unwrap();
    let answer = s
        .respond(0, &r, Code::CONTENT, |b| b.uint_option(OptionNumber::OBSERVE, n).map(|_| ()), b"")
        .unwrap()
        .to_vec();
    c.handle_datagram(1, &answer).unwrap();
    assert_eq!(c.cancel(2, token, Type::Con, path), Ok(true));
    let off = c.poll_transmit(2).unwrap().to_vec();
    let m = Message::parse(&off).unwrap();
    assert_eq!((m.code, m.token, observe_value(&off)), (Code::GET, &token.0[..], Some(1)));
    let Incoming::Request(r) = s.handle_datagram(3, 1, &off) else { panic!() };
    assert_eq!(s.observe(3, &r, 7), None, "deregistered");
    assert_eq!(s.observers_of(7), 0);
    let answer = s.respond(3, &r, Code::CONTENT, |_| Ok(()), b"").unwrap().to_vec();
    assert!(matches!(c.handle_datagram(4, &answer), Some(Event::Response { token: t, .. }) if t == token));
    assert_eq!(c.outstanding(), 0);
    assert_eq!(c.cancel(5, token, Type::Con, path), Ok(false), "nothing left to cancel");
}

/// A 100 KB body fetched block by block, the client choosing a smaller block size on the way
/// (RFC 7959 §2.4 lets it), joined back intact.
#[test]
fn a_large_body_is_served_block_by_block() {
    let body: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut s: Server<u8, 8, 1200> = Server::new(Params::default(), 1);
    let mut joined = Vec::new();
    let (mut num, mut szx, mut id) = (0u32, None::<u8>, 100u16);
    loop {
        let block2 = szx.map(|szx| crate::coap::block::Block { num, more: false, szx }.value());
        let mut buf = [0u8; 64];
        let mut b = Builder::new(&mut buf, Type::Con, Code::GET, id, &[9]).unwrap();
        b.option(OptionNumber::URI_PATH, b"fw").unwrap();
        if let Some(v) = block2 {
            b.uint_option(OptionNumber::BLOCK2, v).unwrap();
        }
        let req = b.finish().to_vec();
        let Incoming::Request(r) = s.handle_datagram(0, 1, &req) else { panic!() };
        let answer = s.respond_body(0, &r, Code::CONTENT, |_| Ok(()), &body, 1024).unwrap().to_vec();
        let m = Message::parse(&answer).unwrap();
        let block = block2_of(&m).expect("a body over one block has Block2");
        assert_eq!(block.offset(), joined.len());
        if block.num == 0 {
            assert_eq!(size2_of(&m), Some(100_000));
        }
        joined.extend_from_slice(m.payload);
        if !block.more {
            break;
        }
        // After the first block, ask for 512-byte blocks: block numbers double.
        let (next_num, next_szx) = match szx {
            None => (2 * (block.num + 1), 5),
            Some(z) => (block.num + 1, z),
        };
        num = next_num;
        szx = Some(next_szx);
        id += 1;
    }
    assert_eq!(joined, body);
    // A block past the end: 4.02.
    let mut buf = [0u8; 64];
    let mut b = Builder::new(&mut buf, Type::Con, Code::GET, 999, &[]).unwrap();
    b.uint_option(OptionNumber::BLOCK2, crate::coap::block::Block { num: 500, more: false, szx: 6 }.value())
        .unwrap();
    let req = b.finish().to_vec();
    let Incoming::Request(r) = s.handle_datagram(0, 1, &req) else { panic!() };
    let answer = s.respond_body(0, &r, Code::CONTENT, |_| Ok(()), &body, 1024).unwrap().to_vec();
    assert_eq!(Message::parse(&answer).unwrap().code, Code::BAD_OPTION);
}

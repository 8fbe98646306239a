use std::vec::Vec;

use super::*;
use crate::coap::OptionNumber;

type C = Client<4, 256>;

fn client() -> C {
    Client::new(Params::default(), 0xdead_beef)
}

fn get(c: &mut C, now: u64, ty: Type) -> Token {
    c.request(now, ty, Code::GET, |b| b.option(OptionNumber::URI_PATH, b"t").map(|_| ()), &[]).unwrap()
}

/// Everything the client sends now, parsed: (type, code, Message ID, token).
fn sent(c: &mut C, now: u64) -> Vec<(Type, Code, u16, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(d) = c.poll_transmit(now) {
        let m = Message::parse(d).unwrap();
        out.push((m.ty, m.code, m.message_id, m.token.to_vec()));
    }
    out
}

fn reply(ty: Type, code: Code, id: u16, token: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 64];
    Builder::new(&mut buf, ty, code, id, token).unwrap().payload(payload).unwrap().to_vec()
}

#[test]
fn a_separate_response_is_acknowledged_once_and_reported_once() {
    let mut c = client();
    let token = get(&mut c, 0, Type::Con);
    let (_, _, id, tok) = sent(&mut c, 0).remove(0);
    // The server acknowledges empty: no more retransmissions.
    assert_eq!(c.handle_datagram(100, &reply(Type::Ack, Code::EMPTY, id, &[], &[])), None);
    assert_eq!(c.handle_timeout(10_000), None);
    assert!(sent(&mut c, 10_000).is_empty(), "no retransmission after the empty ACK");
    // The response comes later as a CON of its own: reported, and acknowledged.
    let response = reply(Type::Con, Code::CONTENT, 0x4242, &tok, b"22");
    let e = c.handle_datagram(20_000, &response).unwrap();
    assert!(matches!(e, Event::Response { token: t, message } if t == token && message.payload == b"22"));
    assert_eq!(sent(&mut c, 20_000), [(Type::Ack, Code::EMPTY, 0x4242, Vec::new())]);
    // The same response again (our ACK was lost): acknowledged again, not reported again.
    assert_eq!(c.handle_datagram(21_000, &response), None);
    assert_eq!(sent(&mut c, 21_000), [(Type::Ack, Code::EMPTY, 0x4242, Vec::new())]);
    assert_eq!(c.stats().duplicates, 1);
    assert_eq!(c.outstanding(), 0);
}

#[test]
fn an_unanswered_request_is_retransmitted_on_schedule_then_given_up() {
    let mut c = client();
    let token = get(&mut c, 0, Type::Con);
    let first = sent(&mut c, 0);
    let mut times = Vec::new();
    let now = loop {
        let now = c.next_timeout().unwrap();
        match c.handle_timeout(now) {
            Some(Event::TimedOut(t)) => {
                assert_eq!(t, token);
                break now;
            }
            None => {
                let again = sent(&mut c, now);
                assert_eq!(again, first, "the same message, the same Message ID");
                times.push(now);
            }
            other => panic!("{other:?}"),
        }
    };
    // Four retransmissions, each wait twice the one before, the first in [2 s, 3 s].
    assert_eq!(times.len(), 4);
    let t0 = times[0];
    assert!((2_000..=3_000).contains(&t0), "{t0}");
    assert_eq!(times, [t0, 3 * t0, 7 * t0, 15 * t0]);
    assert_eq!(now, 31 * t0, "given up when the last wait ends");
    assert_eq!(c.stats().retransmissions, 4);
    assert_eq!(c.outstanding(), 0);
}

#[test]
fn a_reset_ends_the_request() {
    let mut c = client();
    let token = get(&mut c, 0, Type::Con);
    let (_, _, id, _) = sent(&mut c, 0).remove(0);
    assert_eq!(c.handle_datagram(5, &reply(Type::Rst, Code::EMPTY, id, &[], &[])), Some(Event::Reset(token)));
    assert_eq!(c.outstanding(), 0);
}

#[test]
fn nstart_keeps_one_confirmable_request_unacknowledged() {
    let mut c = client();
    let a = get(&mut c, 0, Type::Con);
    let b = get(&mut c, 0, Type::Con);
    let first = sent(&mut c, 0);
    assert_eq!(first.len(), 1, "the second waits");
    let (_, _, id, tok) = first[0].clone();
    let ack = reply(Type::Ack, Code::CONTENT, id, &tok, b"a");
    let e = c.handle_datagram(50, &ack).unwrap();
    assert!(matches!(e, Event::Response { token, .. } if token == a));
    let second = sent(&mut c, 50);
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].3, b.0.to_vec());
}

#[test]
fn a_non_request_is_sent_once_and_matched_by_token() {
    let mut c = client();
    let token = get(&mut c, 0, Type::Non);
    let (ty, _, _, tok) = sent(&mut c, 0).remove(0);
    assert_eq!(ty, Type::Non);
    assert_eq!(c.handle_timeout(60_000), None);
    assert!(sent(&mut c, 60_000).is_empty(), "never retransmitted");
    let response = reply(Type::Non, Code::CONTENT, 9, &tok, b"x");
    let e = c.handle_datagram(70_000, &response).unwrap();
    assert!(matches!(e, Event::Response { token: t, .. } if t == token));
    assert!(sent(&mut c, 70_000).is_empty(), "a NON response needs no ACK");
}

#[test]
fn what_matches_nothing_is_rejected_or_ignored() {
    let mut c = client();
    // A confirmable response for no request: RST.
    assert_eq!(c.handle_datagram(0, &reply(Type::Con, Code::CONTENT, 77, &[1, 2, 3, 4], b"?")), None);
    assert_eq!(sent(&mut c, 0), [(Type::Rst, Code::EMPTY, 77, Vec::new())]);
    // A ping (CON Empty): RST, as §4.3 says.
    assert_eq!(c.handle_datagram(0, &reply(Type::Con, Code::EMPTY, 78, &[], &[])), None);
    assert_eq!(sent(&mut c, 0), [(Type::Rst, Code::EMPTY, 78, Vec::new())]);
    // A malformed confirmable datagram whose ID can be read: RST; a NON one: ignored.
    assert_eq!(c.handle_datagram(0, &[0x49, 0x45, 0x00, 0x50]), None);
    assert_eq!(sent(&mut c, 0), [(Type::Rst, Code::EMPTY, 0x50, Vec::new())]);
    assert_eq!(c.handle_datagram(0, &[0x59, 0x45, 0x00, 0x51]), None);
    assert!(sent(&mut c, 0).is_empty());
    // An ACK for no request: ignored.
    assert_eq!(c.handle_datagram(0, &reply(Type::Ack, Code::EMPTY, 79, &[], &[])), None);
    assert_eq!(c.stats().ignored, 4);
}

#[test]
fn requests_are_checked() {
    let mut c = client();
    let none = |_: &mut Builder<'_>| Ok(());
    assert_eq!(c.request(0, Type::Ack, Code::GET, none, &[]), Err(RequestError::NotARequest));
    assert_eq!(c.request(0, Type::Con, Code::CONTENT, none, &[]), Err(RequestError::NotARequest));
    assert_eq!(
        c.request(0, Type::Con, Code::POST, none, &[0; 300]),
        Err(RequestError::Build(BuildError::BufferTooSmall))
    );
    for _ in 0..4 {
        c.request(0, Type::Non, Code::POST, none, &[]).unwrap();
    }
    assert_eq!(c.request(0, Type::Non, Code::POST, none, &[]), Err(RequestError::Busy));
}

/// A server behind a link that drops 30 % and duplicates 10 % of datagrams both ways: every
/// confirmable request gets exactly one outcome, and the server processes each request once
/// (it deduplicates by Message ID and answers a duplicate from its cache).
#[test]
fn through_loss_and_duplication_each_request_ends_exactly_once() {
    let mut roll = crate::coap::percent_rolls(0x9e37_79b9);
    let mut c = client();
    let mut processed: std::collections::HashMap<u16, u32> = Default::default();
    let mut cache: std::collections::HashMap<u16, Vec<u8>> = Default::default();
    let mut outcomes: std::collections::HashMap<Token, u32> = Default::default();
    let (mut responses, mut timeouts) = (0, 0);
    let mut now = 0u64;
    let mut started = 0;
    while started < 200 || c.outstanding() > 0 {
        if started < 200 && c.outstanding() < 4 {
            get(&mut c, now, Type::Con);
            started += 1;
        }
        let mut to_client = Vec::new();
        while let Some(d) = c.poll_transmit(now) {
            let d = d.to_vec();
            for _ in 0..(if roll() < 10 { 2 } else { 1 }) {
                if roll() < 30 {
                    continue; // lost on the way to the server
                }
                let m = Message::parse(&d).unwrap();
                if m.ty != Type::Con {
                    continue;
                }
                let answer = cache.entry(m.message_id).or_insert_with(|| {
                    *processed.entry(m.message_id).or_default() += 1;
                    reply(Type::Ack, Code::CONTENT, m.message_id, m.token, b"v")
                });
                to_client.push(answer.clone());
            }
        }
        for d in to_client {
            for _ in 0..(if roll() < 10 { 2 } else { 1 }) {
                if roll() < 30 {
                    continue; // lost on the way back
                }
                if let Some(Event::Response { token, .. }) = c.handle_datagram(now, &d) {
                    *outcomes.entry(token).or_default() += 1;
                    responses += 1;
                }
            }
        }
        now += 100;
        while let Some(e) = c.handle_timeout(now) {
            if let Event::TimedOut(t) = e {
                *outcomes.entry(t).or_default() += 1;
                timeouts += 1;
            }
        }
    }
    assert_eq!(outcomes.len(), 200, "every request ended");
    assert!(outcomes.values().all(|&n| n == 1), "each exactly once");
    assert!(processed.values().all(|&n| n == 1), "the server processed each once");
    // With 30 % loss each way a request fails only if all five tries fail: about 0.3 %.
    assert!(responses >= 195, "{responses} responses, {timeouts} timeouts");
}

#[test]
fn keep_trying_retransmits_the_same_message_until_the_exchange_lifetime() {
    let mut c = client();
    c.keep_trying(true);
    let p = Params::default();
    let token = get(&mut c, 0, Type::Con);
    let first = sent(&mut c, 0);
    let mut tries = 1;
    let ended = loop {
        let now = c.next_timeout().unwrap();
        if let Some(e) = c.handle_timeout(now) {
            break (e, now);
        }
        for s in sent(&mut c, now) {
            assert_eq!(s, first[0], "the same Message ID and token every time");
            tries += 1;
        }
    };
    assert_eq!(ended.0, Event::TimedOut(token));
    // More than one round of MAX_RETRANSMIT + 1 tries, none after the server forgets the ID.
    assert!(tries >= 2 * (usize::from(p.max_retransmit) + 1), "{tries} tries");
    assert!(ended.1 <= p.exchange_lifetime_ms(), "given up at {} ms", ended.1);
}

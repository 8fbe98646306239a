//! The CoAP server's state machine under arbitrary datagrams from a few peers, answered or
//! not, with time passing: it never panics, a request is handed to the application at most
//! once within its lifetime, and what it asks to send is well-formed CoAP.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use telemetra_transports::coap::reliability::Params;
use telemetra_transports::coap::server::{Incoming, Server};
use telemetra_transports::coap::{Code, Message};

fuzz_target!(|data: &[u8]| {
    let mut s: Server<u8, 8, 128> = Server::new(Params::default(), 3);
    let mut now = 0u64;
    let mut handed: HashMap<(u8, u16), u64> = HashMap::new();
    let mut input = data;
    while let [op, rest @ ..] = input {
        input = rest;
        if op & 0x80 != 0 {
            now += u64::from(op & 0x7f) * 10_000;
            continue;
        }
        let n = usize::from(op & 0x1f).min(input.len());
        let (bytes, rest) = input.split_at(n);
        input = rest;
        let peer = op >> 5 & 3;
        let answer = op & 0x10 != 0;
        match s.handle_datagram(now, peer, bytes) {
            Incoming::Request(r) => {
                let key = (peer, r.message.message_id);
                if let Some(at) = handed.get(&key) {
                    // Only after its lifetime, or after the cache of 8 had to forget it.
                    assert!(now >= at + 145_000 || s.stats().evicted > 0, "handed twice");
                }
                handed.insert(key, now);
                if answer {
                    let out = s.respond(now, &r, Code::CONTENT, |_| Ok(()), b"ok").expect("fits").to_vec();
                    assert!(Message::parse(&out).is_ok());
                }
            }
            Incoming::Reply(out) => assert!(Message::parse(out).is_ok(), "a reply is CoAP"),
            _ => {}
        }
    }
});

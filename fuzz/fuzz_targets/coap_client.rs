//! The CoAP client's state machine driven by arbitrary input: requests, datagrams from a
//! "server" (arbitrary bytes, or the client's own requests answered with arbitrary codes) and
//! time passing in any order. It never panics, never holds more than its capacity, and every
//! request ends at most once.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use telemetra_transports::coap::client::{Client, Event};
use telemetra_transports::coap::reliability::Params;
use telemetra_transports::coap::{Builder, Code, Message, Type};

fuzz_target!(|data: &[u8]| {
    let mut c: Client<4, 128> = Client::new(Params::default(), 7);
    let (mut now, mut ended, mut last_sent) = (0u64, HashSet::new(), Vec::new());
    let mut note = |e: Option<Event<'_>>| {
        let token = match e {
            Some(Event::Response { token, .. } | Event::Reset(token) | Event::TimedOut(token)) => token,
            // A notification does not end its observation.
            Some(Event::Notification { .. }) | None => return,
        };
        assert!(ended.insert(token), "a request ended twice");
    };
    let mut input = data;
    while let [op, rest @ ..] = input {
        input = rest;
        match op % 5 {
            0 => {
                let ty = if op & 0x80 != 0 { Type::Con } else { Type::Non };
                let _ = c.request(now, ty, Code::GET, |_| Ok(()), &[]);
            }
            1 => {
                let n = usize::from(op >> 3).min(input.len());
                let (bytes, rest) = input.split_at(n);
                input = rest;
                note(c.handle_datagram(now, bytes));
            }
            2 => {
                // Answer the last request the client sent, with the op's bits as the reply.
                if let Ok(m) = Message::parse(&last_sent) {
                    let ty = [Type::Con, Type::Non, Type::Ack, Type::Rst][usize::from(op >> 6)];
                    let mut buf = [0u8; 64];
                    if let Ok(b) = Builder::new(&mut buf, ty, Code(op >> 1), m.message_id, m.token) {
                        let bytes = b.finish().to_vec();
                        note(c.handle_datagram(now, &bytes));
                    }
                }
            }
            3 => {
                now += u64::from(*op) * 100;
                while let Some(e) = c.handle_timeout(now) {
                    note(Some(e));
                }
            }
            _ => {
                while let Some(d) = c.poll_transmit(now) {
                    last_sent = d.to_vec();
                }
            }
        }
        assert!(c.outstanding() <= 4);
    }
});

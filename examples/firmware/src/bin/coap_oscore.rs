//! The CoAP path with OSCORE (RFC 8613): the node observes its command route, POSTs its
//! readings and answers each command, every request protected end to end with the security
//! context it shares with the server (derived at boot from the secret provisioned into it) and
//! every response and notification verified. The server keeps no replay window across its
//! restarts, so its first answer is a protected 4.01 with an Echo value (Appendix B.1.2): the
//! node sends that request again carrying it. Done after three commands.
//!
//! A product keeps the sender sequence number in flash (`SecurityContext::persist_every`)
//! so that a reboot never reuses a nonce; this example boots once.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use static_cell::StaticCell;
use telemetra::coap::client::{Client, Event, Token};
use telemetra::coap::oscore::{self, Binding, SecurityContext};
use telemetra::coap::reliability::Params;
use telemetra::coap::{Builder, Code, Message, OptionNumber, Type};
use telemetra::codec::{Body, FrameView, ReadingsBody, encode_body};
use telemetra::model::{CommandAck, CommandId, CommandResult, Timestamp};
use telemetra_firmware_example::coap_link::{self, CoapClient, DATAGRAM, Datagrams, path};
use telemetra_firmware_example::{self as board, app};

/// The context's master secret and salt, and the two Sender IDs (the peer holds the same).
const SECRET: [u8; 16] = *b"device 2a secret";
const SALT: &[u8] = b"tm-1";
const DEVICE_ID: &[u8] = b"\x2a";
const SERVER_ID: &[u8] = b"S";

/// A request on its way: what binds its response, and what to send again if it is challenged.
struct Pending {
    token: Token,
    binding: Binding,
    kind: &'static [u8],
    frame: heapless::Vec<u8, { app::FRAME }>,
}

/// The node's CoAP side: the client core, the context, the requests open.
struct Node {
    client: &'static mut CoapClient,
    ctx: SecurityContext,
    pending: heapless::Vec<Pending, 4>,
    /// The observation of the command route, once the server took it.
    observing: Option<Token>,
}

/// What one pump brought: ended requests (the inner code and any Echo value), a command.
#[derive(Default)]
struct Arrived {
    ended: heapless::Vec<(Token, Code, Option<heapless::Vec<u8, 40>>), 4>,
    command: Option<CommandId>,
}

impl Node {
    /// Protects and sends a request: a GET registering an observation of `kind` (empty
    /// `frame`), or a POST of `frame` to it; `echo` answers a challenge.
    fn send(&mut self, now: u64, kind: &'static [u8], frame: &[u8], echo: Option<&[u8]>) -> bool {
        let observe = frame.is_empty();
        let mut plain = [0u8; DATAGRAM];
        let built = Builder::new(&mut plain, Type::Con, if observe { Code::GET } else { Code::POST }, 0, &[])
            .and_then(|mut b| {
                if observe {
                    b.uint_option(OptionNumber::OBSERVE, 0)?;
                }
                path(&mut b, kind)?;
                if let Some(e) = echo {
                    b.option(OptionNumber::ECHO, e)?;
                }
                b.payload(frame).map(|m| m.len())
            });
        let Some(plain) = built.ok().and_then(|len| Message::parse(&plain[..len]).ok()) else { return false };
        let mut wire = [0u8; 2 * DATAGRAM];
        let Ok((outer, binding)) = oscore::protect_request(&mut self.ctx, &plain, &mut wire) else {
            return false;
        };
        let Ok(outer) = Message::parse(outer) else { return false };
        // The core adds Observe itself to a registration.
        let options = |b: &mut Builder<'_>| {
            outer
                .options()
                .filter(|(n, _)| *n != OptionNumber::OBSERVE)
                .try_for_each(|(n, v)| b.option(n, v).map(drop))
        };
        let token = match observe {
            true => self.client.observe_with(now, Type::Con, outer.code, options, outer.payload),
            false => self.client.request(now, Type::Con, outer.code, options, outer.payload),
        };
        let Ok(token) = token else { return false };
        let frame = heapless::Vec::from_slice(frame).unwrap_or_default();
        self.pending.push(Pending { token, binding, kind, frame }).is_ok()
    }

    /// POSTs a frame carrying `body` to the route `kind`.
    fn post<B: Body + ?Sized>(&mut self, now: u64, kind: &'static [u8], seq: u32, body: &B) -> bool {
        let mut frame = [0u8; app::FRAME];
        let Ok(bytes) = encode_body(app::DEVICE, seq, body, &mut frame) else { return false };
        self.client.outstanding() < 3 && self.send(now, kind, bytes, None)
    }

    /// Pumps the link once; every response and notification verified and opened.
    fn pump(&mut self, uart: &mut board::uart::Uart, link: &mut Datagrams, now: u64) -> Arrived {
        let mut arrived = Arrived::default();
        let Node { client, ctx, pending, .. } = self;
        coap_link::pump(client, uart, link, now, |event| {
            let (token, message, notification) = match event {
                Event::Response { token, message } => (token, message, false),
                Event::Notification { token, message } => (token, message, true),
                Event::Reset(token) | Event::TimedOut(token) => {
                    let _ = arrived.ended.push((token, Code::new(0, 0), None));
                    return;
                }
            };
            let Some(p) = pending.iter().find(|p| p.token == token) else { return };
            let mut buf = [0u8; 2 * DATAGRAM];
            let inner = oscore::unprotect_response(ctx, &p.binding, &message, &mut buf).ok();
            let Some(inner) = inner.and_then(|b| Message::parse(b).ok()) else {
                // Not protected (a plain error), or forged: the request ends with its code.
                if !notification {
                    let _ = arrived.ended.push((token, message.code, None));
                }
                return;
            };
            if notification {
                if let Ok(cmd) = FrameView::parse(inner.payload).and_then(|v| v.command()) {
                    arrived.command = Some(cmd.id);
                }
                return;
            }
            let echo = inner.option(OptionNumber::ECHO).and_then(|e| heapless::Vec::from_slice(e).ok());
            let _ = arrived.ended.push((token, inner.code, echo));
        });
        arrived
    }

    /// Settles what ended: a registration taken is kept for its notifications; a request
    /// challenged goes again with the Echo value; the rest is done.
    fn settle(&mut self, now: u64, ended: &[(Token, Code, Option<heapless::Vec<u8, 40>>)]) {
        for (token, code, echo) in ended {
            let Some(i) = self.pending.iter().position(|p| p.token == *token) else { continue };
            let registration = self.pending[i].frame.is_empty();
            if registration && code.class() == 2 {
                self.observing = Some(*token);
                continue;
            }
            let p = self.pending.swap_remove(i);
            if *code == Code::UNAUTHORIZED
                && let Some(echo) = echo
                && !self.send(now, p.kind, &p.frame, Some(echo))
            {
                board::probe::fail(b"echo");
            }
        }
    }
}

#[entry]
fn main() -> ! {
    static CLIENT: StaticCell<CoapClient> = StaticCell::new();
    let mut uart = board::init();
    let ctx = SecurityContext::derive(&SECRET, SALT, DEVICE_ID, SERVER_ID, None)
        .unwrap_or_else(|_| board::probe::fail(b"context"));
    let client = CLIENT.init(Client::new(Params::default(), 0x05c0_4e2a));
    let mut node = Node { client, ctx, pending: heapless::Vec::new(), observing: None };
    let mut link = Datagrams::new();
    let (mut seq, mut tick, mut acked, mut next) = (0u32, 0u32, 0u32, 0u64);
    let mut todo: Option<CommandId> = None;
    if !node.send(0, b"commands", &[], None) {
        board::probe::fail(b"observe");
    }
    while acked < 3 && board::clock::now() < 20_000 {
        let now = board::clock::now();
        if let Some(id) = todo {
            let ack = CommandAck { command: id, at: Timestamp(now), result: CommandResult::Completed };
            if node.post(now, b"acks", seq + 1, &ack) {
                seq += 1;
                todo = None;
                acked += 1;
            }
        } else if now >= next && node.observing.is_some() {
            next = now + 100;
            tick += 1;
            if node.post(now, b"readings", seq + 1, &ReadingsBody(&app::sample(tick, Timestamp(now)))) {
                seq += 1;
            }
        }
        let arrived = node.pump(&mut uart, &mut link, now);
        node.settle(now, &arrived.ended);
        if let Some(id) = arrived.command {
            todo = Some(id);
        }
    }
    if acked < 3 {
        board::probe::fail(b"no commands");
    }
    // The last acknowledgement goes out before the end.
    let end = board::clock::now() + 500;
    while node.pending.len() > 1 && board::clock::now() < end {
        let now = board::clock::now();
        let arrived = node.pump(&mut uart, &mut link, now);
        node.settle(now, &arrived.ended);
    }
    board::probe::finish()
}

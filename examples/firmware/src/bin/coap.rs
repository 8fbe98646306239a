//! The CoAP client core over the UART: each COBS+CRC packet carries one CoAP datagram (a serial
//! link to a border router, as SLIP carries IP). The node first sends the readings it kept
//! while its link was down, one frame larger than a datagram, block by block (Block1, RFC
//! 7959); then it observes its command route, POSTs its readings as confirmable requests
//! (retransmitted on RFC 7252's schedule), and answers each command with an acknowledgement
//! frame; done after three commands.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use static_cell::StaticCell;
use telemetra::coap::block::Block;
use telemetra::coap::block::transfer::{Progress, Upload};
use telemetra::coap::client::{Client, Event, Token};
use telemetra::coap::reliability::Params;
use telemetra::coap::{Builder, Code, OptionNumber, Type};
use telemetra::codec::{Body, FrameView, MessageKind, ReadingsBody, encode_body};
use telemetra::model::{CommandAck, CommandId, CommandResult, Timestamp};
use telemetra_firmware_example::coap_link::{self, CoapClient, Datagrams, path};
use telemetra_firmware_example::{self as board, app};

/// The readings kept while the link was down: five samples of three.
const BACKLOG: usize = 15;
/// The backlog's block size: a datagram's payload on a link with small frames.
const BLOCK: usize = 64;

/// POSTs a frame carrying `body` to the route `kind`; `false` when it cannot be sent now.
fn post<B: Body + ?Sized>(client: &mut CoapClient, now: u64, kind: &[u8], seq: u32, body: &B) -> bool {
    let mut frame = [0u8; app::FRAME];
    let Ok(bytes) = encode_body(app::DEVICE, seq, body, &mut frame) else { return false };
    client.request(now, Type::Con, Code::POST, |b| path(b, kind), bytes).is_ok()
}

/// What one pump brought.
#[derive(Default)]
struct Arrived {
    /// The command a notification carried.
    command: Option<CommandId>,
    /// A request that ended: its response's code and Block1 option (code 0.00 when it timed
    /// out or was reset).
    ended: Option<(Token, Code, Option<Block>)>,
}

/// Pumps the link once and tells what came of it.
fn pump(client: &mut CoapClient, uart: &mut board::uart::Uart, link: &mut Datagrams, now: u64) -> Arrived {
    let mut arrived = Arrived::default();
    coap_link::pump(client, uart, link, now, |event| match event {
        Event::Notification { message, .. } => {
            if let Ok(view) = FrameView::parse(message.payload)
                && let Ok(cmd) = view.command()
            {
                arrived.command = Some(cmd.id);
            }
        }
        Event::Response { token, message } => {
            let block1 = message.option(OptionNumber::BLOCK1).and_then(|v| Block::decode(v).ok());
            arrived.ended = Some((token, message.code, block1));
        }
        Event::Reset(token) | Event::TimedOut(token) => arrived.ended = Some((token, Code::new(0, 0), None)),
    });
    arrived
}

/// The backlog as a `Readings` body, each reading made as it is written (no array of them on
/// the stack).
struct Backlog;

impl serde::Serialize for Backlog {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((0..BACKLOG).map(|i| app::sample(i as u32 / 3, Timestamp(i as u64))[i % 3].clone()))
    }
}

impl Body for Backlog {
    const KIND: MessageKind = MessageKind::Readings;
}

/// Sends the backlog as one frame in Block1 blocks, each answered (2.31 Continue) before the
/// next; `false` if the server refused a block or one went unanswered.
fn upload_backlog(client: &mut CoapClient, uart: &mut board::uart::Uart, link: &mut Datagrams) -> bool {
    static FRAME: StaticCell<[u8; 16 * 24]> = StaticCell::new();
    let frame = FRAME.init([0; 16 * 24]);
    let Ok(body) = encode_body(app::DEVICE, 0, &Backlog, frame) else { return false };
    let Ok(mut up) = Upload::new(body.len(), BLOCK) else { return false };
    loop {
        let (block, range) = up.block();
        let options = |b: &mut Builder<'_>| {
            path(b, b"readings")?;
            b.uint_option(OptionNumber::BLOCK1, block.value())?;
            if block.num == 0 {
                b.uint_option(OptionNumber::SIZE1, body.len() as u32)?;
            }
            Ok(())
        };
        let now = board::clock::now();
        let Ok(sent) = client.request(now, Type::Con, Code::POST, options, &body[range]) else {
            return false;
        };
        let (code, block1) = loop {
            if let Some((token, code, block1)) = pump(client, uart, link, board::clock::now()).ended
                && token == sent
            {
                break (code, block1);
            }
        };
        match up.on_response(code, block1) {
            Ok(Progress::Next) => {}
            Ok(Progress::Finished) => return true,
            Err(_) => return false,
        }
    }
}

#[entry]
fn main() -> ! {
    static CLIENT: StaticCell<CoapClient> = StaticCell::new();
    let mut uart = board::init();
    let client = CLIENT.init(Client::new(Params::default(), 0x2a2a_5eed));
    let mut link = Datagrams::new();
    let (mut seq, mut tick, mut acked, mut next) = (0u32, 0u32, 0u32, 0u64);
    let mut todo: Option<CommandId> = None;
    if !upload_backlog(client, &mut uart, &mut link) {
        board::probe::fail(b"backlog");
    }
    if client.observe(0, Type::Con, |b| path(b, b"commands")).is_err() {
        board::probe::fail(b"observe");
    }
    while acked < 3 && board::clock::now() < 20_000 {
        let now = board::clock::now();
        if let Some(id) = todo {
            seq += 1;
            let ack = CommandAck { command: id, at: Timestamp(now), result: CommandResult::Completed };
            if post(client, now, b"acks", seq, &ack) {
                todo = None;
                acked += 1;
            }
        } else if now >= next && client.outstanding() < 3 {
            next = now + 100;
            seq += 1;
            tick += 1;
            post(client, now, b"readings", seq, &ReadingsBody(&app::sample(tick, Timestamp(now))));
        }
        if let Some(id) = pump(client, &mut uart, &mut link, now).command {
            todo = Some(id);
        }
    }
    if acked < 3 {
        board::probe::fail(b"no commands");
    }
    // The last acknowledgement goes out before the end.
    let end = board::clock::now() + 500;
    while client.outstanding() > 1 && board::clock::now() < end {
        pump(client, &mut uart, &mut link, board::clock::now());
    }
    board::probe::finish()
}

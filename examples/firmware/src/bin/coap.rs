//! The CoAP client core over the UART: each COBS+CRC packet carries one CoAP datagram (a serial
//! link to a border router, as SLIP carries IP). The node observes its command route, POSTs its
//! readings as confirmable requests (retransmitted on RFC 7252's schedule), and answers each
//! command with an acknowledgement frame; done after three commands.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use static_cell::StaticCell;
use telemetra::coap::client::{Client, Event};
use telemetra::coap::reliability::Params;
use telemetra::coap::{BuildError, Builder, Code, OptionNumber, Type};
use telemetra::codec::stream::{PacketDecoder, max_packet_len, write_packet};
use telemetra::codec::{Body, FrameView, ReadingsBody, encode_body};
use telemetra::model::{CommandAck, CommandId, CommandResult, Timestamp};
use telemetra_firmware_example::{self as board, app};

/// The largest datagram: a frame and the request's header, token and path.
const DATAGRAM: usize = app::FRAME + 48;

type CoapClient = Client<4, DATAGRAM>;

/// The route's resource, `/tm/v1/2a/{kind}`.
fn path(b: &mut Builder<'_>, kind: &[u8]) -> Result<(), BuildError> {
    for segment in [&b"tm"[..], b"v1", b"2a", kind] {
        b.option(OptionNumber::URI_PATH, segment)?;
    }
    Ok(())
}

/// POSTs a frame carrying `body` to the route `kind`; `false` when it cannot be sent now.
fn post<B: Body + ?Sized>(client: &mut CoapClient, now: u64, kind: &[u8], seq: u32, body: &B) -> bool {
    let mut frame = [0u8; app::FRAME];
    let Ok(bytes) = encode_body(app::DEVICE, seq, body, &mut frame) else { return false };
    client.request(now, Type::Con, Code::POST, |b| path(b, kind), bytes).is_ok()
}

/// The UART as a datagram link: COBS+CRC packets in, with what has arrived of the next one.
struct Datagrams {
    decoder: PacketDecoder<{ max_packet_len(DATAGRAM) }>,
    rx: [u8; 64],
}

/// Sends what the client has to send, runs its timers (a request that timed out is given up:
/// the next reading goes on), and hands it what arrived; returns the command a notification
/// carried, if one did.
fn pump(
    client: &mut CoapClient,
    uart: &mut board::uart::Uart,
    link: &mut Datagrams,
    now: u64,
) -> Option<CommandId> {
    while let Some(datagram) = client.poll_transmit(now) {
        write_packet(datagram, |chunk| uart.write_all(chunk));
    }
    while client.handle_timeout(now).is_some() {}
    let mut command = None;
    let n = app::read_ready(uart, &mut link.rx);
    let mut input = &link.rx[..n];
    while !input.is_empty() {
        let Some(Ok(datagram)) = link.decoder.push(&mut input) else { continue };
        if let Some(Event::Notification { message, .. }) = client.handle_datagram(now, datagram)
            && let Ok(view) = FrameView::parse(message.payload)
            && let Ok(cmd) = view.command()
        {
            command = Some(cmd.id);
        }
    }
    command
}

#[entry]
fn main() -> ! {
    static CLIENT: StaticCell<CoapClient> = StaticCell::new();
    let mut uart = board::init();
    let client = CLIENT.init(Client::new(Params::default(), 0x2a2a_5eed));
    let mut link = Datagrams { decoder: PacketDecoder::new(), rx: [0; 64] };
    let (mut seq, mut tick, mut acked, mut next) = (0u32, 0u32, 0u32, 0u64);
    let mut todo: Option<CommandId> = None;
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
        if let Some(id) = pump(client, &mut uart, &mut link, now) {
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

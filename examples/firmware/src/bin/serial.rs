//! The reliable serial link over the UART (to a gateway): readings go out as frames the
//! gateway acknowledges, sent again until it does; commands come in once and in order, are
//! obeyed and acknowledged with a frame. Done after three commands.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use static_cell::StaticCell;
use telemetra::codec::stream::{PacketDecoder, max_packet_len, write_packet};
use telemetra::codec::{Body, FrameView, ReadingsBody, encode_body};
use telemetra::model::{CommandAck, CommandId, CommandResult, Timestamp};
use telemetra::serial::reliable::{Config, ReliableLink, wire};
use telemetra_firmware_example::{self as board, app};

/// Four frames in flight each way, each at most a frame long.
type Link = ReliableLink<4, { app::FRAME }>;
/// The largest packet on the line.
const PACKET: usize = max_packet_len(app::FRAME + wire::DATA_HEADER);

/// Queues a frame carrying `body`; `false` when the window is full.
fn send<B: Body + ?Sized>(link: &mut Link, seq: u32, body: &B) -> bool {
    let mut frame = [0u8; app::FRAME];
    let Ok(bytes) = encode_body(app::DEVICE, seq, body, &mut frame) else { return false };
    link.can_send() && link.send(bytes).is_ok()
}

/// Runs the link's timers, writes its packets, feeds it what arrived; returns the command the
/// next frame in order carried, once taken.
fn pump(
    link: &mut Link,
    uart: &mut board::uart::Uart,
    decoder: &mut PacketDecoder<PACKET>,
    now: u64,
) -> Option<CommandId> {
    if link.poll_timeout().is_some_and(|t| t <= now) {
        link.handle_timeout(now);
    }
    let mut packet = [0u8; app::FRAME + wire::DATA_HEADER];
    while let Some(n) = link.poll_transmit(now, &mut packet) {
        write_packet(&packet[..n], |chunk| uart.write_all(chunk));
    }
    let mut rx = [0u8; 64];
    let n = app::read_ready(uart, &mut rx);
    let mut input = &rx[..n];
    while !input.is_empty() {
        if let Some(Ok(p)) = decoder.push(&mut input) {
            link.handle_packet(now, p);
        }
    }
    let (taken, frame) = link.receive()?;
    let command = FrameView::parse(frame).and_then(|v| v.command()).ok().map(|c| c.id);
    link.consume(taken);
    command
}

#[entry]
fn main() -> ! {
    static LINK: StaticCell<Link> = StaticCell::new();
    static DECODER: StaticCell<PacketDecoder<PACKET>> = StaticCell::new();
    let mut uart = board::init();
    // The session id must differ at every boot: a product takes it from its RNG, or from a
    // boot counter kept in flash. QEMU boots the same way every time.
    let link = LINK.init(Link::new(Config::default(), 0x2a00_b007));
    let decoder = DECODER.init(PacketDecoder::new());
    let (mut seq, mut tick, mut acked, mut next) = (0u32, 0u32, 0u32, 0u64);
    let mut todo: Option<CommandId> = None;
    while acked < 3 && board::clock::now() < 20_000 {
        let now = board::clock::now();
        if let Some(id) = todo {
            let ack = CommandAck { command: id, at: Timestamp(now), result: CommandResult::Completed };
            if send(link, seq + 1, &ack) {
                seq += 1;
                todo = None;
                acked += 1;
            }
        } else if now >= next && link.is_established() {
            next = now + 100;
            tick += 1;
            if send(link, seq + 1, &ReadingsBody(&app::sample(tick, Timestamp(now)))) {
                seq += 1;
            }
        }
        if let Some(id) = pump(link, &mut uart, decoder, now) {
            todo = Some(id);
        }
    }
    if acked < 3 {
        board::probe::fail(b"no commands");
    }
    // The acknowledgements go out and are acknowledged before the end.
    let end = board::clock::now() + 2_000;
    while link.unacknowledged() > 0 && board::clock::now() < end {
        pump(link, &mut uart, decoder, board::clock::now());
    }
    board::probe::finish()
}

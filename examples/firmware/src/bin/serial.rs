//! The reliable serial link over the UART (to a gateway), as async code: the link's
//! `embedded-io-async` driver (`serial::asynch`) owns the UART; the node sends a readings frame
//! every 100 ms and waits for commands in between; each command is obeyed and acknowledged
//! with a frame. Done after three commands.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use static_cell::StaticCell;
use telemetra::codec::stream::max_packet_len;
use telemetra::codec::{Body, FrameView, ReadingsBody, encode_body};
use telemetra::model::{CommandAck, CommandResult, Timestamp};
use telemetra::serial::asynch::AsyncLink;
use telemetra::serial::reliable::{Config, ReliableLink, wire};
use telemetra_firmware_example::executor::{AsyncUart, BoardClock, block_on};
use telemetra_firmware_example::{self as board, app};

/// Four frames in flight each way, each at most a frame long, on the UART.
type Link<'a> = AsyncLink<
    AsyncUart<'a>,
    BoardClock,
    4,
    { app::FRAME },
    { max_packet_len(app::FRAME + wire::DATA_HEADER) },
>;

/// Sends a frame carrying `body` (waiting for room in the window).
async fn send<B: Body + ?Sized>(link: &mut Link<'_>, seq: u32, body: &B) {
    let mut frame = [0u8; app::FRAME];
    if let Ok(bytes) = encode_body(app::DEVICE, seq, body, &mut frame) {
        let _ = link.send(bytes).await;
    }
}

async fn node(link: &mut Link<'_>) -> u32 {
    let (mut seq, mut tick, mut acked) = (0u32, 0u32, 0u32);
    let mut frame = [0u8; app::FRAME];
    while acked < 3 && board::clock::now() < 20_000 {
        let now = board::clock::now();
        tick += 1;
        seq += 1;
        send(link, seq, &ReadingsBody(&app::sample(tick, Timestamp(now)))).await;
        // Commands until the next sample is due.
        while let Ok(Some(n)) = link.receive_before(&mut frame, now + 100).await {
            let Ok(cmd) = FrameView::parse(&frame[..n]).and_then(|v| v.command()) else { continue };
            seq += 1;
            let at = Timestamp(board::clock::now());
            send(link, seq, &CommandAck { command: cmd.id, at, result: CommandResult::Completed }).await;
            acked += 1;
        }
    }
    // The acknowledgements go out and are acknowledged before the end.
    let end = board::clock::now() + 2_000;
    while link.link().unacknowledged() > 0 && board::clock::now() < end {
        let _ = link.step().await;
    }
    acked
}

#[entry]
fn main() -> ! {
    static UART: StaticCell<board::uart::Uart> = StaticCell::new();
    static LINK: StaticCell<Link<'static>> = StaticCell::new();
    let uart = UART.init(board::init());
    // The session id must differ at every boot: a product takes it from its RNG, or from a
    // boot counter kept in flash. QEMU boots the same way every time.
    let session = 0x2a00_b007;
    // The link's buffers in static RAM, not on the stack.
    let link =
        LINK.init(AsyncLink::new(AsyncUart(uart), BoardClock, ReliableLink::new(Config::default(), session)));
    if block_on(node(link)) < 3 {
        board::probe::fail(b"no commands");
    }
    board::probe::finish()
}

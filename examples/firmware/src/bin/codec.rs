//! Codec, both ways: readings sent; commands received, obeyed and acknowledged.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use telemetra::codec::ReadingsBody;
use telemetra::model::{CommandAck, CommandResult, Timestamp};
use telemetra_firmware_example::{self as board, app};

#[entry]
fn main() -> ! {
    let mut uart = board::init();
    let link = app::SerialLink::take();
    let (mut seq, mut tick, mut acked) = (0u32, 0u32, 0u32);
    let mut next = 0;
    // Runs until the peer has sent three commands, or 10 s without them.
    while acked < 3 && board::clock::now() < 10_000 {
        let now = board::clock::now();
        if now >= next {
            next = now + 100;
            seq += 1;
            tick += 1;
            link.send(&mut uart, seq, &ReadingsBody(&app::sample(tick, Timestamp(now))));
        }
        // Only commands are decoded: the node links the command decoder and no other.
        if let Some(Ok(cmd)) = link.receive(&mut uart, |view| view.command()) {
            seq += 1;
            let ack = CommandAck { command: cmd.id, at: Timestamp(now), result: CommandResult::Completed };
            link.send(&mut uart, seq, &ack);
            acked += 1;
        }
    }
    if acked < 3 {
        board::probe::fail(b"no commands");
    }
    board::probe::finish()
}

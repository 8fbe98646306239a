//! Codec, both ways: readings sent; commands received, obeyed and acknowledged.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use telemetra::codec::{Frame, Message};
use telemetra::model::{CommandAck, CommandResult, Timestamp};
use telemetra_firmware_example::{self as board, app};

#[entry]
fn main() -> ! {
    let mut uart = board::init();
    let mut link = app::SerialLink::default();
    let (mut seq, mut tick, mut acked) = (0u32, 0u32, 0u32);
    let mut next = 0;
    // Runs until the peer has sent three commands, or 10 s without them.
    while acked < 3 && board::clock::now() < 10_000 {
        let now = board::clock::now();
        if now >= next {
            next = now + 100;
            seq += 1;
            tick += 1;
            link.send(&mut uart, &app::readings_frame(seq, tick, Timestamp(now)));
        }
        if let Some(frame) = link.receive(&mut uart)
            && let Message::Command(cmd) = frame.message
        {
            seq += 1;
            let ack = CommandAck { command: cmd.id, at: Timestamp(now), result: CommandResult::Completed };
            link.send(&mut uart, &Frame::new(app::DEVICE, seq, Message::Ack(ack)));
            acked += 1;
        }
    }
    if acked < 3 {
        board::probe::fail(b"no commands");
    }
    board::probe::finish()
}

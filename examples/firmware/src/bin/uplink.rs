//! Codec, uplink only: readings framed, encoded and sent as COBS+CRC packets.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use telemetra::codec::ReadingsBody;
use telemetra::model::Timestamp;
use telemetra_firmware_example::{self as board, app};

#[entry]
fn main() -> ! {
    let mut uart = board::init();
    let link = app::SerialLink::take();
    for seq in 0..20u32 {
        let at = Timestamp(board::clock::now());
        if !link.send(&mut uart, seq, &ReadingsBody(&app::sample(seq, at))) {
            board::probe::fail(b"encode");
        }
    }
    board::probe::finish()
}

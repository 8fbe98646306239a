//! Codec, uplink only: readings framed, encoded and sent as COBS+CRC packets.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use static_cell::ConstStaticCell;
use telemetra::codec::ReadingsBody;
use telemetra::model::Timestamp;
use telemetra_firmware_example::{self as board, app};

/// The link's buffers live in a static, made at compile time (`.bss`: no stack, no zeroing).
static LINK: ConstStaticCell<app::SerialLink> = ConstStaticCell::new(app::SerialLink::new());

#[entry]
fn main() -> ! {
    let mut uart = board::init();
    let Some(link) = LINK.try_take() else { board::probe::fail(b"link taken") };
    for seq in 0..20u32 {
        let at = Timestamp(board::clock::now());
        if !link.send(&mut uart, seq, &ReadingsBody(&app::sample(seq, at))) {
            board::probe::fail(b"encode");
        }
    }
    board::probe::finish()
}

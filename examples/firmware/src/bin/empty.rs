//! The baseline of `scripts/size`: the board and the measurements, nothing of telemetra.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use telemetra_firmware_example as board;

#[entry]
fn main() -> ! {
    let mut uart = board::init();
    let mut buf = [0u8; 8];
    let n = uart.read_available(&mut buf);
    uart.write_all(&buf[..n]);
    board::probe::finish()
}

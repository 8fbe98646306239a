//! Milliseconds since boot, from SysTick interrupting once a millisecond.

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;

/// The core clock of the STM32F405 as QEMU's netduinoplus2 runs it (168 MHz).
const CORE_HZ: u32 = 168_000_000;

static MILLIS: AtomicU32 = AtomicU32::new(0);

/// Starts the millisecond tick.
pub fn start(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(CORE_HZ / 1_000 - 1);
    syst.clear_current();
    syst.enable_counter();
    syst.enable_interrupt();
}

/// Milliseconds since boot (wraps after 49 days; the protocol cores take `u64`).
pub fn now() -> u64 {
    u64::from(MILLIS.load(Ordering::Relaxed))
}

#[exception]
fn SysTick() {
    MILLIS.fetch_add(1, Ordering::Relaxed);
}

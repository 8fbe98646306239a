//! The board under the example firmware: an STM32F405 (QEMU's `netduinoplus2`, or a real
//! Netduino Plus 2 / any F405 board), with
//!
//! - [`app`]: the node's identity, simulated sensors and its frames over the UART;
//! - `coap_link` (feature `coap`): CoAP datagrams over the UART and the client core's pump;
//! - `executor` (feature `serial`): the UART and clock for async code, and `block_on`;
//! - [`uart`]: USART1 as an `embedded-io`-style byte stream (blocking write, non-blocking read);
//! - [`clock`]: milliseconds since boot from SysTick;
//! - [`heap`]: the allocator the rule engine and the MQTT client use, with its peak counted;
//! - [`probe`]: the measurements `scripts/size` reads (peak stack by painting, peak heap) and
//!   the exit through semihosting, without `core::fmt` (so measuring costs no float
//!   formatting).
//!
//! A product replaces this module with its HAL (embassy, stm32f4xx-hal): telemetra needs
//! only bytes in and out, a clock in milliseconds, and for rules and MQTT an allocator.
#![no_std]

extern crate alloc;

pub mod app;
pub mod clock;
#[cfg(feature = "coap")]
pub mod coap_link;
#[cfg(feature = "serial")]
pub mod executor;
pub mod heap;
pub mod probe;
pub mod uart;

/// Sets up the board: clock, heap, UART. Call first thing in `main`.
pub fn init() -> uart::Uart {
    probe::paint_stack();
    let p = cortex_m::Peripherals::take().unwrap_or_else(|| probe::fail(b"peripherals taken twice"));
    clock::start(p.SYST);
    heap::init();
    uart::Uart::usart1()
}

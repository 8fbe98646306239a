//! Measurements for `scripts/size`, reported through semihosting without `core::fmt`: the
//! stack's high-water mark (the stack is painted at start-up and the untouched paint found at
//! the end), the heap's peak, and the exit code.

use cortex_m_semihosting::{debug, hio};

const PAINT: u32 = 0xDEAD_C0DE;

unsafe extern "C" {
    static mut __sheap: u32;
    static _stack_start: u32;
}

/// Paints the free RAM between the static data and the current stack pointer.
#[inline(always)]
pub fn paint_stack() {
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = core::ptr::addr_of_mut!(__sheap);
    // Leave the current frame alone.
    while (p as usize) < sp - 256 {
        // SAFETY: [__sheap, sp - 256) is RAM above every static and below the live stack:
        // nothing uses it yet.
        unsafe {
            p.write_volatile(PAINT);
            p = p.add(1);
        }
    }
}

/// The deepest the stack has been, in bytes.
pub fn stack_peak() -> usize {
    let top = core::ptr::addr_of!(_stack_start) as usize;
    let mut p = core::ptr::addr_of!(__sheap);
    // SAFETY: reads painted RAM from its bottom up to the first word the stack overwrote.
    unsafe {
        while (p as usize) < top && p.read_volatile() == PAINT {
            p = p.add(1);
        }
    }
    top - p as usize
}

/// Writes `text` to the host's console.
pub fn print(text: &[u8]) {
    if let Ok(mut out) = hio::hstdout() {
        let _ = out.write_all(text);
    }
}

/// Writes `value` in decimal.
pub fn print_number(value: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = value;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    print(&digits[i..]);
}

/// Prints the measurements (`heap_peak=… stack_peak=…`) and leaves QEMU with success.
pub fn finish() -> ! {
    print(b"heap_peak=");
    print_number(crate::heap::peak());
    print(b" stack_peak=");
    print_number(stack_peak());
    print(b"\n");
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi();
    }
}

/// Prints `why` and leaves QEMU with failure.
pub fn fail(why: &[u8]) -> ! {
    print(b"firmware failed: ");
    print(why);
    print(b"\n");
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // No message: formatting one would link `core::fmt` into every binary.
    fail(b"panic")
}

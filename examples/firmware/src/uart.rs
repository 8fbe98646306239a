//! USART1 of the STM32F405 as a byte stream: blocking writes, non-blocking reads.
//!
//! Only the registers QEMU models and a real F405 needs once its clocks are on (a HAL does
//! that part on hardware): SR (status), DR (data), CR1 (enable).

const USART1: usize = 0x4001_1000;
const SR: *mut u32 = USART1 as *mut u32;
const DR: *mut u32 = (USART1 + 0x04) as *mut u32;
const CR1: *mut u32 = (USART1 + 0x0c) as *mut u32;
const SR_RXNE: u32 = 1 << 5;
const SR_TXE: u32 = 1 << 7;
const CR1_UE: u32 = 1 << 13;
const CR1_TE: u32 = 1 << 3;
const CR1_RE: u32 = 1 << 2;

/// The serial port.
pub struct Uart(());

impl Uart {
    /// USART1, enabled for transmit and receive.
    pub fn usart1() -> Uart {
        // SAFETY: USART1's CR1 is a valid MMIO register on the STM32F405; only this driver
        // touches USART1.
        unsafe { CR1.write_volatile(CR1_UE | CR1_TE | CR1_RE) };
        Uart(())
    }

    /// Writes every byte, waiting for room.
    pub fn write_all(&mut self, bytes: &[u8]) {
        for &b in bytes {
            // SAFETY: SR and DR are USART1's status and data registers (see `usart1`).
            unsafe {
                while SR.read_volatile() & SR_TXE == 0 {}
                DR.write_volatile(u32::from(b));
            }
        }
    }

    /// Reads what has arrived into `buf`, without waiting; returns how many bytes.
    pub fn read_available(&mut self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        while n < buf.len() {
            // SAFETY: as in `write_all`; reading DR clears RXNE.
            let byte = unsafe {
                if SR.read_volatile() & SR_RXNE == 0 {
                    break;
                }
                DR.read_volatile() as u8
            };
            buf[n] = byte;
            n += 1;
        }
        n
    }
}

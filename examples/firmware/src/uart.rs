//! USART1 of the STM32F405 as an `embedded-io` byte stream (`Read`, `ReadReady`, `Write`):
//! what the node's code takes, so a product swaps in its HAL's UART or an embassy-net socket.
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

impl embedded_io::ErrorType for Uart {
    type Error = core::convert::Infallible;
}

impl embedded_io::ReadReady for Uart {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        // SAFETY: SR is USART1's status register (see `usart1`); reading it has no effect.
        Ok(unsafe { SR.read_volatile() } & SR_RXNE != 0)
    }
}

impl embedded_io::Read for Uart {
    /// Waits for at least one byte, then takes what has arrived.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let n = self.read_available(buf);
            if n > 0 {
                return Ok(n);
            }
        }
    }
}

impl embedded_io::Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

//! A signed firmware update, device side: the vendor's manifest verified with its public key
//! (ed25519) before anything in it is read, then anti-rollback and device class; a 2 KB image
//! received in 256-byte chunks into the inactive slot, its digest checked, the trial boot
//! started and confirmed. A manifest with one byte changed is refused. The flash here is a
//! RAM-backed `embedded-storage` NOR flash (QEMU's board does not emulate flash programming);
//! a product passes its HAL's flash driver.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};
use static_cell::StaticCell;
use telemetra::update::{Download, Layout, UpdateError, boot, confirm, running};
use telemetra_firmware_example as board;

include!("../update_consts.rs");

/// The device: its vendor and class, and where things are on its flash.
const DEVICE: (u32, u32) = (0x7e1e, 7);
const LAYOUT: Layout = Layout { slots: [0, 2048], slot_size: 2048, state: [4096, 5120], sector: 1024 };

/// NOR flash in RAM: erased to 0xff, programming clears bits.
struct RamFlash([u8; 6144]);

#[derive(Debug)]
struct OutOfBounds;

impl NorFlashError for OutOfBounds {
    fn kind(&self) -> NorFlashErrorKind {
        NorFlashErrorKind::OutOfBounds
    }
}

impl ErrorType for RamFlash {
    type Error = OutOfBounds;
}

impl ReadNorFlash for RamFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), OutOfBounds> {
        let at = offset as usize;
        bytes.copy_from_slice(self.0.get(at..at + bytes.len()).ok_or(OutOfBounds)?);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.0.len()
    }
}

impl NorFlash for RamFlash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 1024;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), OutOfBounds> {
        self.0.get_mut(from as usize..to as usize).ok_or(OutOfBounds)?.fill(0xff);
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), OutOfBounds> {
        let at = offset as usize;
        for (m, b) in self.0.get_mut(at..at + bytes.len()).ok_or(OutOfBounds)?.iter_mut().zip(bytes) {
            *m &= *b;
        }
        Ok(())
    }
}

/// Byte `i` of the image the vendor signed (what the server would stream).
fn image_byte(i: u32) -> u8 {
    (i as u8).wrapping_mul(31) ^ 7
}

#[entry]
fn main() -> ! {
    static FLASH: StaticCell<RamFlash> = StaticCell::new();
    let _uart = board::init();
    let flash = FLASH.init(RamFlash([0xff; 6144]));
    // A tampered manifest: refused before anything in it is used.
    let mut tampered = ENVELOPE;
    tampered[10] ^= 1;
    if !matches!(
        Download::begin(flash, &LAYOUT, &tampered, &VENDOR_KEY, DEVICE),
        Err(UpdateError::BadSignature)
    ) {
        board::probe::fail(b"tampered manifest taken");
    }
    let Ok(mut download) = Download::begin(flash, &LAYOUT, &ENVELOPE, &VENDOR_KEY, DEVICE) else {
        board::probe::fail(b"manifest refused");
    };
    // The chunks arrive out of order and one twice, as over a lossy link.
    for index in [3u32, 0, 1, 7, 2, 2, 4, 6, 5] {
        let mut chunk = [0u8; 256];
        for (k, b) in chunk.iter_mut().enumerate() {
            *b = image_byte(index * 256 + k as u32);
        }
        if download.write(flash, index * 256, &chunk).is_err() {
            board::probe::fail(b"chunk refused");
        }
    }
    if download.finish(flash).is_err() {
        board::probe::fail(b"image refused");
    }
    // The reset into the new image (slot 1), which confirms it runs.
    if boot(flash, &LAYOUT) != Ok(1)
        || confirm(flash, &LAYOUT).is_err()
        || running(flash, &LAYOUT) != Ok((1, 2))
    {
        board::probe::fail(b"trial boot");
    }
    board::probe::finish()
}

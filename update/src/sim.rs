//! A NOR flash in memory that can lose power in the middle of any write or erase, the way
//! MCUboot's simulator tests resets: the operation the cut falls on is done halfway (the first
//! half of the words programmed, or of the bytes erased), and every operation after it fails
//! until [`SimFlash::power_on`]. Programming only clears bits, as on real NOR flash.

use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};

/// The flash.
#[derive(Clone, Debug)]
pub struct SimFlash {
    mem: Vec<u8>,
    sector: usize,
    ops: usize,
    cut_at: Option<usize>,
    dead: bool,
}

/// Why a simulated operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimError {
    /// The power is off (a cut happened).
    PowerOff,
    /// Out of bounds or misaligned.
    Bounds,
}

impl NorFlashError for SimError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            SimError::PowerOff => NorFlashErrorKind::Other,
            SimError::Bounds => NorFlashErrorKind::OutOfBounds,
        }
    }
}

impl SimFlash {
    /// `size` bytes, erased, in sectors of `sector` bytes.
    pub fn new(size: usize, sector: usize) -> SimFlash {
        SimFlash { mem: vec![0xff; size], sector, ops: 0, cut_at: None, dead: false }
    }

    /// The write or erase number `n` from now (0: the next one) is cut halfway.
    pub fn cut_at(&mut self, n: usize) {
        self.cut_at = Some(self.ops + n);
    }

    /// Writes and erases done so far.
    pub fn ops(&self) -> usize {
        self.ops
    }

    /// Whether the power went.
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// The power comes back (the cut, if any, happened): the device boots again.
    pub fn power_on(&mut self) {
        self.dead = false;
        self.cut_at = None;
    }

    /// The bytes at `offset`.
    pub fn contents(&self, offset: usize, len: usize) -> &[u8] {
        &self.mem[offset..offset + len]
    }

    /// Whether this operation is the one cut; counts it.
    fn cut(&mut self) -> Result<bool, SimError> {
        if self.dead {
            return Err(SimError::PowerOff);
        }
        let cut = self.cut_at == Some(self.ops);
        self.ops += 1;
        Ok(cut)
    }
}

impl ErrorType for SimFlash {
    type Error = SimError;
}

impl ReadNorFlash for SimFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        if self.dead {
            return Err(SimError::PowerOff);
        }
        let at = offset as usize;
        let src = self.mem.get(at..at + bytes.len()).ok_or(SimError::Bounds)?;
        bytes.copy_from_slice(src);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.mem.len()
    }
}

impl NorFlash for SimFlash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 1024;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        let (from, to) = (from as usize, to as usize);
        if from % self.sector != 0 || to % self.sector != 0 || to > self.mem.len() || from > to {
            return Err(SimError::Bounds);
        }
        let cut = self.cut()?;
        let end = if cut { from + (to - from) / 2 } else { to };
        self.mem[from..end].fill(0xff);
        if cut {
            self.dead = true;
            return Err(SimError::PowerOff);
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        let at = offset as usize;
        if !at.is_multiple_of(Self::WRITE_SIZE)
            || !bytes.len().is_multiple_of(Self::WRITE_SIZE)
            || at + bytes.len() > self.mem.len()
        {
            return Err(SimError::Bounds);
        }
        let cut = self.cut()?;
        let n = if cut { bytes.len() / 2 / Self::WRITE_SIZE * Self::WRITE_SIZE } else { bytes.len() };
        for (m, b) in self.mem[at..at + n].iter_mut().zip(bytes) {
            *m &= *b;
        }
        if cut {
            self.dead = true;
            return Err(SimError::PowerOff);
        }
        Ok(())
    }
}

//! The boot state: which slot runs, and what is pending, kept as an append-only log of
//! checksummed records in two flash sectors (so that no power cut, at any write or erase,
//! leaves no valid latest record).
//!
//! ```text
//! record (72 bytes) = magic u32 | counter u32 | phase u8 | slot u8 | 0 0 | sequence u64 |
//!                     previous u64 | size u32 | digest [32] | crc32 u32 | 0 0 0 0
//! (integers little-endian; the CRC-32 covers the 64 bytes before it)
//! ```
//!
//! The latest record is the valid one (magic and CRC) with the highest counter in either
//! sector. A record torn by a power cut fails its CRC and does not count. When the sector in
//! use is full, the next record goes to the start of the other sector (erased first): the full
//! one keeps the latest record until the new one is written.

use embedded_storage::nor_flash::NorFlash;

use crate::{Layout, UpdateError};

const MAGIC: u32 = 0x7e1e_b007;
/// A record's length on flash.
pub const RECORD: usize = 72;
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// What a record says about its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The slot's image runs and is confirmed.
    Confirmed,
    /// The slot holds a verified new image; boot it next, on trial.
    Pending,
    /// The slot's image was booted on trial and has not confirmed: if the device boots again
    /// in this phase, the image failed (it reset before confirming) and the previous one
    /// returns.
    Trial,
}

/// One boot-state record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// Grows with every record written.
    pub counter: u32,
    /// What it says.
    pub phase: Phase,
    /// The slot it is about (0 or 1).
    pub slot: u8,
    /// The sequence number of that slot's image.
    pub sequence: u64,
    /// The sequence number of the image confirmed before it (to return to).
    pub previous: u64,
    /// The image's length.
    pub size: u32,
    /// The image's digest.
    pub digest: [u8; 32],
}

impl Record {
    fn encode(&self) -> [u8; RECORD] {
        let mut b = [0u8; RECORD];
        b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&self.counter.to_le_bytes());
        b[8] = match self.phase {
            Phase::Confirmed => 1,
            Phase::Pending => 2,
            Phase::Trial => 3,
        };
        b[9] = self.slot;
        b[12..20].copy_from_slice(&self.sequence.to_le_bytes());
        b[20..28].copy_from_slice(&self.previous.to_le_bytes());
        b[28..32].copy_from_slice(&self.size.to_le_bytes());
        b[32..64].copy_from_slice(&self.digest);
        let crc = CRC.checksum(&b[..64]);
        b[64..68].copy_from_slice(&crc.to_le_bytes());
        b
    }

    fn decode(b: &[u8; RECORD]) -> Option<Record> {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut v = [0u8; 8];
            v.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(v)
        };
        if u32_at(0) != MAGIC || CRC.checksum(&b[..64]) != u32_at(64) {
            return None;
        }
        let phase = match b[8] {
            1 => Phase::Confirmed,
            2 => Phase::Pending,
            3 => Phase::Trial,
            _ => return None,
        };
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&b[32..64]);
        let record = Record {
            counter: u32_at(4),
            phase,
            slot: b[9],
            sequence: u64_at(12),
            previous: u64_at(20),
            size: u32_at(28),
            digest,
        };
        (record.slot < 2).then_some(record)
    }
}

fn io<E>(_: E) -> UpdateError {
    UpdateError::Flash
}

/// Where records live: sector `s`, position `i`.
fn at(layout: &Layout, s: usize, i: usize) -> u32 {
    layout.state[s] + (i * RECORD) as u32
}

fn per_sector(layout: &Layout) -> usize {
    layout.sector as usize / RECORD
}

fn read_raw<F: NorFlash>(
    flash: &mut F,
    layout: &Layout,
    s: usize,
    i: usize,
) -> Result<[u8; RECORD], UpdateError> {
    let mut b = [0u8; RECORD];
    flash.read(at(layout, s, i), &mut b).map_err(io)?;
    Ok(b)
}

/// The boot state as read from flash: its latest record, and where the next one goes.
#[derive(Clone, Copy, Debug)]
pub struct Log {
    /// The latest valid record, if any was ever written.
    pub latest: Option<Record>,
    /// The sector that holds it (0 when there is none).
    sector: usize,
    /// The first blank place after the last written one in that sector (`None`: it is full,
    /// and the next record starts the other sector, erased first).
    next: Option<usize>,
}

/// Reads the boot state (one pass over both sectors).
pub fn read<F: NorFlash>(flash: &mut F, layout: &Layout) -> Result<Log, UpdateError> {
    let mut latest: Option<(Record, usize)> = None;
    // Per sector, one past the last place written (valid or torn).
    let mut used = [0usize; 2];
    for (s, used) in used.iter_mut().enumerate() {
        for i in 0..per_sector(layout) {
            let raw = read_raw(flash, layout, s, i)?;
            if raw.iter().any(|&x| x != 0xff) {
                *used = i + 1;
            }
            if let Some(r) = Record::decode(&raw)
                && latest.is_none_or(|(l, _)| r.counter > l.counter)
            {
                latest = Some((r, s));
            }
        }
    }
    let sector = latest.map_or(0, |(_, s)| s);
    let next = (used[sector] < per_sector(layout)).then_some(used[sector]);
    Ok(Log { latest: latest.map(|(r, _)| r), sector, next })
}

/// The latest record, if any was ever written.
pub fn latest<F: NorFlash>(flash: &mut F, layout: &Layout) -> Result<Option<Record>, UpdateError> {
    Ok(read(flash, layout)?.latest)
}

/// Appends `record` (its counter set to follow the latest's).
pub fn append<F: NorFlash>(flash: &mut F, layout: &Layout, record: Record) -> Result<Record, UpdateError> {
    read(flash, layout)?.append(flash, layout, record)
}

impl Log {
    /// Appends `record` after this state, as read (its counter set to follow the latest's).
    pub fn append<F: NorFlash>(
        self,
        flash: &mut F,
        layout: &Layout,
        mut record: Record,
    ) -> Result<Record, UpdateError> {
        record.counter = self.latest.map_or(1, |l| l.counter.wrapping_add(1));
        let (sector, position) = match self.next {
            Some(i) => (self.sector, i),
            None => {
                // The sector in use is full: start the other one, which holds only older
                // records.
                let other = 1 - self.sector;
                flash.erase(layout.state[other], layout.state[other] + layout.sector).map_err(io)?;
                (other, 0)
            }
        };
        // A record torn by a power cut fails its CRC: the one before it stays the latest.
        flash.write(at(layout, sector, position), &record.encode()).map_err(io)?;
        Ok(record)
    }
}

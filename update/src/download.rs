//! Receiving an image into the inactive slot.

use embedded_storage::nor_flash::NorFlash;

use crate::state::{self, Phase, Record};
use crate::{Layout, Manifest, UpdateError, boot, verify};

/// The most chunks a download tracks (a bit each).
pub const MAX_CHUNKS: usize = 4096;

fn io<E>(_: E) -> UpdateError {
    UpdateError::Flash
}

/// An image being received into the inactive slot.
#[derive(Debug)]
pub struct Download {
    manifest: Manifest,
    layout: Layout,
    /// The slot it goes to.
    slot: u8,
    /// The sequence of the image that runs (to return to if the new one fails its trial).
    running: u64,
    received: [u32; MAX_CHUNKS / 32],
    count: u32,
}

impl Download {
    /// Starts the download the signed manifest `envelope` describes, for a device of
    /// `(vendor, class)` that trusts `public_key`: verifies the signature, then the sequence
    /// against the running image's, then the vendor and class and the size; then erases the
    /// inactive slot. Refused while the running image is on trial (confirm it first); a
    /// finished update not yet booted is cancelled by a new one.
    pub fn begin<F: NorFlash>(
        flash: &mut F,
        layout: &Layout,
        envelope: &[u8],
        public_key: &[u8; 32],
        device: (u32, u32),
    ) -> Result<Download, UpdateError> {
        let manifest = verify(envelope, public_key)?;
        let log = state::read(flash, layout)?;
        let (slot, running) = boot::running_after(log.latest);
        match log.latest {
            // The image on trial has the other slot as its way back: keep it.
            Some(r) if r.phase == Phase::Trial => return Err(UpdateError::Unconfirmed),
            // A finished update not booted yet is superseded: cancelled before its slot is
            // erased, so that no boot can take a half-written slot for it.
            Some(r) if r.phase == Phase::Pending => {
                let cancel = Record { phase: Phase::Confirmed, slot, sequence: running, ..r };
                log.append(flash, layout, cancel)?;
            }
            _ => {}
        }
        if manifest.sequence <= running {
            return Err(UpdateError::Rollback { offered: manifest.sequence, running });
        }
        if (manifest.vendor, manifest.class) != device {
            return Err(UpdateError::WrongClass);
        }
        let chunk_aligned = (manifest.chunk_size as usize).is_multiple_of(F::WRITE_SIZE);
        if manifest.size > layout.slot_size || manifest.chunks() as usize > MAX_CHUNKS || !chunk_aligned {
            return Err(UpdateError::TooLarge);
        }
        let target = 1 - slot;
        let start = layout.slots[usize::from(target)];
        flash.erase(start, start + layout.slot_size).map_err(io)?;
        Ok(Download {
            manifest,
            layout: *layout,
            slot: target,
            running,
            received: [0; MAX_CHUNKS / 32],
            count: 0,
        })
    }

    /// The manifest being downloaded.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Writes the chunk at `offset` (a multiple of the chunk size; the chunk's full length, the
    /// last one shorter). A chunk received before is ignored: chunks may come in any order and
    /// more than once. Returns how many chunks are still missing.
    pub fn write<F: NorFlash>(
        &mut self,
        flash: &mut F,
        offset: u32,
        data: &[u8],
    ) -> Result<u32, UpdateError> {
        let m = &self.manifest;
        let index = offset / m.chunk_size;
        let expected = m.chunk_size.min(m.size.saturating_sub(offset)) as usize;
        if !offset.is_multiple_of(m.chunk_size) || index >= m.chunks() || data.len() != expected {
            return Err(UpdateError::BadChunk(offset));
        }
        let (word, bit) = ((index / 32) as usize, 1u32 << (index % 32));
        if self.received[word] & bit != 0 {
            return Ok(m.chunks() - self.count);
        }
        let at = self.layout.slots[usize::from(self.slot)] + offset;
        // Whole words; the last chunk's tail is padded with the erased value.
        let whole = data.len() - data.len() % F::WRITE_SIZE;
        flash.write(at, &data[..whole]).map_err(io)?;
        if whole < data.len() {
            let mut tail = [0xffu8; 64];
            let tail = tail.get_mut(..F::WRITE_SIZE).ok_or(UpdateError::TooLarge)?;
            tail[..data.len() - whole].copy_from_slice(&data[whole..]);
            flash.write(at + whole as u32, tail).map_err(io)?;
        }
        self.received[word] |= bit;
        self.count += 1;
        Ok(m.chunks() - self.count)
    }

    /// The offsets of the chunks still missing (what to ask for after the link dropped).
    pub fn missing(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.manifest.chunks())
            .filter(|i| self.received[(i / 32) as usize] & (1 << (i % 32)) == 0)
            .map(|i| i * self.manifest.chunk_size)
    }

    /// Checks the whole image's digest (see [`digest`](crate::digest)) as written, then records it as pending: the next
    /// [`boot`](crate::boot) starts it on trial.
    pub fn finish<F: NorFlash>(self, flash: &mut F) -> Result<(), UpdateError> {
        let missing = self.manifest.chunks() - self.count;
        if missing > 0 {
            return Err(UpdateError::Incomplete(missing));
        }
        let start = self.layout.slots[usize::from(self.slot)];
        let mut hasher = crate::ImageHasher::new();
        let mut buf = [0u8; 256];
        let mut offset = 0u32;
        while offset < self.manifest.size {
            let n = (self.manifest.size - offset).min(buf.len() as u32) as usize;
            flash.read(start + offset, &mut buf[..n]).map_err(io)?;
            hasher.update(&buf[..n]);
            offset += n as u32;
        }
        if hasher.finish() != self.manifest.digest {
            return Err(UpdateError::DigestMismatch);
        }
        let pending = Record {
            counter: 0,
            phase: Phase::Pending,
            slot: self.slot,
            sequence: self.manifest.sequence,
            previous: self.running,
            size: self.manifest.size,
            digest: self.manifest.digest,
        };
        state::append(flash, &self.layout, pending).map(drop)
    }
}

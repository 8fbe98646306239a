//! Signed firmware updates for telemetra devices, `no_std` and without an allocator.
//!
//! An update is an image and a [`Manifest`] the vendor signs with ed25519 (the signing side is
//! the `sign` feature; a device only verifies). On the device, [`Download::begin`] checks, in
//! this order and before anything else: the signature (nothing in the manifest is read until
//! it verifies), anti-rollback (its sequence number must exceed that of the running image),
//! and the vendor and device class. Chunks are then written by offset into the inactive slot
//! through `embedded-storage` (idempotent, in any order, resumable after the link drops: ask
//! for [`Download::missing`]); [`Download::finish`] checks the whole image's digest and only
//! then asks for the switch. At the next reset, [`boot`] starts the new image on trial; the
//! image calls [`confirm`] once it runs well, and if the device resets before that, [`boot`]
//! returns to the previous image. The boot state is an append-only log of checksummed records
//! in two sectors (`state`), so that a power cut at any write or erase leaves the device
//! booting a whole image, old or new.
//!
//! ```
//! use telemetra_update::{Layout, Manifest, sign, public_key, Download, boot, confirm};
//! # use telemetra_update::sim::SimFlash;
//! let layout = Layout { slots: [0, 8192], slot_size: 8192, state: [16384, 17408], sector: 1024 };
//! let mut flash = SimFlash::new(18432, 1024);
//! let image = [0x42u8; 3000];
//! let manifest = Manifest { sequence: 1, vendor: 7, class: 1, size: 3000, digest: telemetra_update::digest(&image), chunk_size: 512 };
//! let seed = [1u8; 32]; // the vendor's secret, never on a device
//! let mut envelope = [0u8; telemetra_update::MAX_ENVELOPE];
//! let n = sign(&manifest, &seed, &mut envelope).unwrap();
//! let key = public_key(&seed).unwrap(); // what the device holds
//!
//! let mut download = Download::begin(&mut flash, &layout, &envelope[..n], &key, (7, 1)).unwrap();
//! for (i, chunk) in image.chunks(512).enumerate() {
//!     download.write(&mut flash, (i * 512) as u32, chunk).unwrap();
//! }
//! download.finish(&mut flash).unwrap();
//! assert_eq!(boot(&mut flash, &layout).unwrap(), 1, "the new image, on trial");
//! confirm(&mut flash, &layout).unwrap();
//! assert_eq!(boot(&mut flash, &layout).unwrap(), 1, "and it stays");
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod boot;
mod download;
mod manifest;
#[cfg(any(test, feature = "std"))]
pub mod sim;
pub mod state;
#[cfg(test)]
mod tests;
pub mod transfer;

pub use boot::{boot, confirm, running};
pub use download::{Download, MAX_CHUNKS};
pub use manifest::{FORMAT, MAX_ENVELOPE, MAX_MANIFEST, Manifest, SIGNATURE, verify};
#[cfg(feature = "sign")]
pub use manifest::{public_key, sign};

/// Where things are on the device's flash (offsets from its start, in bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The two image slots.
    pub slots: [u32; 2],
    /// Each slot's length (a multiple of `sector`).
    pub slot_size: u32,
    /// The two sectors of the boot state.
    pub state: [u32; 2],
    /// The erase sector's size.
    pub sector: u32,
}

/// Why an update (or a boot decision) did not go on.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum UpdateError {
    /// The envelope's format byte is not one this build reads.
    #[error("manifest format {0} is not supported (this build reads 1)")]
    UnknownFormat(u8),
    /// The envelope or the manifest in it is not well formed (lengths, fields).
    #[error("the manifest is malformed")]
    Malformed,
    /// The signature does not verify with the vendor's key: nothing in it was used.
    #[error("the manifest's signature does not verify")]
    BadSignature,
    /// The manifest's sequence number does not exceed the running image's.
    #[error("the update's sequence {offered} does not exceed the running image's {running}")]
    Rollback {
        /// The manifest's.
        offered: u64,
        /// The running image's.
        running: u64,
    },
    /// The manifest is for another vendor or device class.
    #[error("the update is for another vendor or device class")]
    WrongClass,
    /// The image is larger than a slot, or has more chunks than a download tracks.
    #[error("the image does not fit a slot")]
    TooLarge,
    /// A chunk's offset is not a chunk boundary, or its length is not the chunk's.
    #[error("a chunk at offset {0} does not fit the manifest's chunking")]
    BadChunk(u32),
    /// Chunks are missing: [`Download::missing`] names them.
    #[error("{0} chunks are missing")]
    Incomplete(u32),
    /// The whole image's digest is not the manifest's: nothing is switched.
    #[error("the image's digest does not match the manifest")]
    DigestMismatch,
    /// The running image is on trial: confirm it before another update (the other slot is its
    /// way back).
    #[error("the running image is on trial: confirm it first")]
    Unconfirmed,
    /// There is nothing to confirm (no image on trial).
    #[error("no image is on trial")]
    NotOnTrial,
    /// The flash failed to read, write or erase.
    #[error("flash operation failed")]
    Flash,
}

/// An image's digest, as a manifest names it: SHA-512 truncated to its first 32 bytes.
///
/// SHA-512 because the signature check (ed25519) links it anyway: a second hash function
/// (SHA-256 cost 1.8 KB of flash) would only add code. The 256-bit truncation resists
/// collisions as SHA-256 does (128 bits).
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    let mut h = ImageHasher::new();
    h.update(bytes);
    h.finish()
}

/// [`digest`] over an image read in pieces.
pub(crate) struct ImageHasher(salty::Sha512);

impl ImageHasher {
    pub(crate) fn new() -> ImageHasher {
        ImageHasher(salty::Sha512::new())
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub(crate) fn finish(self) -> [u8; 32] {
        let full = self.0.finalize();
        let mut out = [0u8; 32];
        out.copy_from_slice(&full[..32]);
        out
    }
}

//! The update manifest and its signed envelope.
//!
//! ```text
//! envelope = format u8 (1) | length u16 LE | manifest (postcard, `length` bytes) | ed25519 signature (64)
//! ```
//!
//! The signature covers everything before it (the format byte and the length included). A
//! device reads only the format byte and the length before the signature verifies: nothing of
//! the manifest is parsed, let alone acted on, until then.

use serde::{Deserialize, Serialize};

use crate::UpdateError;

/// The envelope's format (its first byte).
pub const FORMAT: u8 = 1;
/// The longest encoded manifest.
pub const MAX_MANIFEST: usize = 96;
/// An ed25519 signature's length.
pub const SIGNATURE: usize = 64;
/// The longest envelope.
pub const MAX_ENVELOPE: usize = 3 + MAX_MANIFEST + SIGNATURE;

/// What an update is: which image, for which devices, in which order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Monotonic: a device takes an update only if this exceeds the sequence of the image it
    /// runs (anti-rollback: an older image, even validly signed, is refused).
    pub sequence: u64,
    /// The vendor's id.
    pub vendor: u32,
    /// The device class the image is built for.
    pub class: u32,
    /// The image's length in bytes.
    pub size: u32,
    /// The whole image's [`digest`](crate::digest) (SHA-512, first 32 bytes).
    pub digest: [u8; 32],
    /// The size of the chunks it is sent in (the last may be shorter).
    pub chunk_size: u32,
}

impl Manifest {
    /// The manifest of `image` (its size and [`digest`](crate::digest)), sent in chunks of
    /// `chunk_size` bytes.
    pub fn for_image(image: &[u8], sequence: u64, vendor: u32, class: u32, chunk_size: u32) -> Manifest {
        Manifest {
            sequence,
            vendor,
            class,
            size: image.len() as u32,
            digest: crate::digest(image),
            chunk_size,
        }
    }

    /// How many chunks the image takes.
    pub fn chunks(&self) -> u32 {
        self.size.div_ceil(self.chunk_size.max(1))
    }
}

/// Verifies `envelope` with the vendor's public key and only then decodes its manifest.
pub fn verify(envelope: &[u8], public_key: &[u8; 32]) -> Result<Manifest, UpdateError> {
    let (&format, rest) = envelope.split_first().ok_or(UpdateError::Malformed)?;
    if format != FORMAT {
        return Err(UpdateError::UnknownFormat(format));
    }
    let len = match rest {
        [lo, hi, ..] => usize::from(u16::from_le_bytes([*lo, *hi])),
        _ => return Err(UpdateError::Malformed),
    };
    if len > MAX_MANIFEST || envelope.len() != 3 + len + SIGNATURE {
        return Err(UpdateError::Malformed);
    }
    let (signed, signature) = envelope.split_at(3 + len);
    let signature: &[u8; SIGNATURE] = signature.try_into().map_err(|_| UpdateError::BadSignature)?;
    let key = salty::PublicKey::try_from(public_key).map_err(|_| UpdateError::BadSignature)?;
    key.verify(signed, &salty::Signature::from(signature)).map_err(|_| UpdateError::BadSignature)?;
    // Signed by the vendor: now, and only now, read it.
    match postcard::take_from_bytes::<Manifest>(&signed[3..]) {
        Ok((m, [])) if m.chunk_size > 0 => Ok(m),
        _ => Err(UpdateError::Malformed),
    }
}

/// Encodes and signs `manifest` with the vendor's 32-byte secret seed into `out`; returns the
/// envelope's length. For the vendor's signing tool and servers, never for a device.
#[cfg(feature = "sign")]
pub fn sign(manifest: &Manifest, seed: &[u8; 32], out: &mut [u8]) -> Result<usize, UpdateError> {
    let key = salty::Keypair::from(seed);
    let out = out.get_mut(..MAX_ENVELOPE).ok_or(UpdateError::Malformed)?;
    let len = postcard::to_slice(manifest, &mut out[3..3 + MAX_MANIFEST])
        .map_err(|_| UpdateError::Malformed)?
        .len();
    out[0] = FORMAT;
    out[1..3].copy_from_slice(&(len as u16).to_le_bytes());
    let signature = key.sign(&out[..3 + len]);
    out[3 + len..3 + len + SIGNATURE].copy_from_slice(&signature.to_bytes());
    Ok(3 + len + SIGNATURE)
}

/// The public key of the vendor's 32-byte secret seed.
#[cfg(feature = "sign")]
pub fn public_key(seed: &[u8; 32]) -> Result<[u8; 32], UpdateError> {
    Ok(salty::Keypair::from(seed).public.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: [u8; 32] = [7; 32];

    fn manifest() -> Manifest {
        Manifest { sequence: 5, vendor: 0x7e1e, class: 42, size: 1000, digest: [9; 32], chunk_size: 256 }
    }

    #[test]
    fn a_signed_manifest_verifies_and_any_change_does_not() {
        let mut out = [0u8; MAX_ENVELOPE];
        let n = sign(&manifest(), &SEED, &mut out).unwrap();
        let key = public_key(&SEED).unwrap();
        assert_eq!(verify(&out[..n], &key), Ok(manifest()));
        assert_eq!(manifest().chunks(), 4);
        for i in 0..n {
            let mut tampered = out;
            tampered[i] ^= 0x01;
            let e = verify(&tampered[..n], &key).unwrap_err();
            assert!(
                matches!(
                    e,
                    UpdateError::BadSignature | UpdateError::Malformed | UpdateError::UnknownFormat(_)
                ),
                "byte {i}: {e:?}"
            );
        }
        let other = public_key(&[8; 32]).unwrap();
        assert_eq!(verify(&out[..n], &other), Err(UpdateError::BadSignature), "another vendor's key");
        assert_eq!(verify(&out[..n - 1], &key), Err(UpdateError::Malformed), "truncated");
        assert_eq!(verify(&[], &key), Err(UpdateError::Malformed));
    }
}

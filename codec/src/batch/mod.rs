//! Batch compression of one channel's samples: `(timestamp, f64)` pairs in, a few bits per
//! sample out, bit-exact back.
//!
//! Timestamps are stored as delta-of-deltas, bit-packed in blocks of 128 at the width of the
//! block's largest value: a strictly periodic channel costs one byte per 128 timestamps.
//! Values go in blocks of 128 too, each block in the cheaper of two modes:
//!
//! * **decimal**: real sensors round to a resolution (0.1 °C, 1 hPa). If every value of the
//!   block is exactly `m / 10^k` for one scale `k` (see [`telemetra_core::decimal`]), the
//!   integers `m` are delta-encoded, zigzagged and bit-packed at the block's width: a
//!   temperature random walk at 0.1 resolution takes 2 to 4 bits per value.
//!   Up to 8 values of a block that have no such form (a NaN from a faulty sensor) are stored
//!   raw beside it, so one odd value does not spoil its block.
//! * **xor**: otherwise, Gorilla-style XOR against the previous value with a leading/trailing
//!   zero window, which is lossless for any bits (NaN payloads and `-0.0` included).
//!
//! The byte layout is specified in the crate's README. Decoding checks every length and
//! width, never panics, and allocates nothing (or, with [`decode_to_vec`], only as much as the
//! input can describe).
//!
//! ```
//! use telemetra_codec::batch;
//! use telemetra_core::Timestamp;
//!
//! let points: Vec<(Timestamp, f64)> = (0..1000)
//!     .map(|i| (Timestamp(1_700_000_000_000 + i * 1000), 20.0 + ((i % 7) as f64) / 10.0))
//!     .collect();
//! let bytes = batch::encode_to_vec(&points).unwrap();
//! assert!(bytes.len() < 600, "{} bytes for 1000 readings", bytes.len());
//! let back = batch::decode_to_vec(&bytes).unwrap();
//! assert_eq!(back, points);
//! ```

mod bits;
mod message;
mod values;

#[cfg(feature = "alloc")]
pub use message::pack;
pub use message::{Batch, MAX_BATCH_BYTES};

use telemetra_core::Timestamp;

use bits::{BitReader, BitWriter, bit_width, put_varint, take, take_varint, unzigzag, zigzag};

/// The batch format version this build writes and reads.
pub const BATCH_VERSION: u8 = 1;

/// Samples per block of timestamps or values.
pub const BLOCK: usize = 128;

/// A batch could not be encoded or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum BatchError {
    /// The output buffer is too small (size it with [`max_encoded_len`]).
    #[error("output buffer too small for the batch")]
    BufferTooSmall,
    /// The version byte names a format this build does not read.
    #[error("batch version {found} is not supported (this build reads {supported})")]
    UnsupportedVersion {
        /// The version in the input.
        found: u8,
        /// The version this build reads.
        supported: u8,
    },
    /// The input ended in the middle of the batch.
    #[error("batch is truncated")]
    Truncated,
    /// A varint is longer than 10 bytes or overflows 64 bits.
    #[error("malformed varint in batch")]
    BadVarint,
    /// The sample count is larger than the input could possibly encode.
    #[error("batch claims {count} samples, more than its {len} bytes can hold")]
    ImplausibleCount {
        /// The claimed count.
        count: u64,
        /// The input's length.
        len: usize,
    },
    /// A block's bit width is over 64.
    #[error("bit width {width} is over 64")]
    BadWidth {
        /// The width found.
        width: u8,
    },
    /// A value block's mode byte is not a decimal scale (0 to 15) or XOR (0x80).
    #[error("unknown value block mode {mode:#04x}")]
    BadMode {
        /// The mode found.
        mode: u8,
    },
    /// An XOR block's window is impossible (longer than 64 bits, or reused before it is set).
    #[error("invalid XOR window in value block")]
    BadWindow,
    /// A decimal block lists more raw exceptions than allowed, or one outside the block.
    #[error("exception count or index out of range in value block")]
    BadException,
    /// The timestamp section does not end where its length says.
    #[error("timestamp section length does not match its contents")]
    SectionMismatch,
    /// Bytes follow the last block.
    #[error("{extra} unexpected bytes after the end of the batch")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// A reading's value cannot go in a batch (a location, a text state, an integer beyond
    /// ±2^53); send it in a `Readings` message.
    #[error("reading {index} cannot be batched (only numbers, integers up to 2^53 and booleans can)")]
    Unbatchable {
        /// Its position in the input.
        index: usize,
    },
    /// A series header of a batch message is malformed: an unknown value kind, a channel
    /// over `u16`, quality runs that do not cover the samples, or a sample its kind cannot hold.
    #[error("malformed series header in batch message")]
    BadSeries,
    /// The caller's output slice is shorter than the batch.
    #[error("output holds {capacity} samples but the batch has {count}")]
    OutputTooSmall {
        /// Samples the caller can take.
        capacity: usize,
        /// Samples in the batch.
        count: u64,
    },
}

/// An upper bound on the encoded size of `n` samples, whatever their values.
pub const fn max_encoded_len(n: usize) -> usize {
    let blocks = n.div_ceil(BLOCK);
    // header + per-block overhead (timestamp width, value mode, m0 varint, width) + worst
    // case per sample (64-bit delta-of-delta, 77-bit XOR code).
    41 + blocks * (14 + 8 * 9) + n * 18
}

/// Encodes `points` into `out` and returns the bytes written.
pub fn encode(points: &[(Timestamp, f64)], out: &mut [u8]) -> Result<usize, BatchError> {
    let n = points.len();
    *out.first_mut().ok_or(BatchError::BufferTooSmall)? = BATCH_VERSION;
    let mut pos = put_varint(out, 1, n as u64)?;
    if n == 0 {
        return Ok(pos);
    }
    pos = put_varint(out, pos, points[0].0.0)?;
    if n > 1 {
        pos = put_varint(out, pos, zigzag(delta(points[0].0, points[1].0)))?;
    }
    pos = encode_timestamps(points, out, pos)?;
    for block in points.chunks(BLOCK) {
        pos = values::encode_block(block, out, pos)?;
    }
    Ok(pos)
}

/// Encodes `points` into a new `Vec` sized by [`max_encoded_len`].
#[cfg(feature = "alloc")]
pub fn encode_to_vec(points: &[(Timestamp, f64)]) -> Result<alloc::vec::Vec<u8>, BatchError> {
    let mut out = alloc::vec![0u8; max_encoded_len(points.len())];
    let n = encode(points, &mut out)?;
    out.truncate(n);
    Ok(out)
}

fn delta(a: Timestamp, b: Timestamp) -> i64 {
    b.0.wrapping_sub(a.0) as i64
}

fn dods(points: &[(Timestamp, f64)]) -> impl Iterator<Item = u64> + '_ {
    points.windows(3).map(|w| zigzag(delta(w[1].0, w[2].0).wrapping_sub(delta(w[0].0, w[1].0))))
}

fn encode_timestamps(points: &[(Timestamp, f64)], out: &mut [u8], pos: usize) -> Result<usize, BatchError> {
    // Delta-of-delta i needs points i, i+1 and i+2; chunk k covers points [k*BLOCK, k*BLOCK+len+2).
    let count = points.len().saturating_sub(2);
    let chunk = |k: usize| &points[k * BLOCK..(k * BLOCK + BLOCK).min(count) + 2];
    let width = |c: &[(Timestamp, f64)]| dods(c).map(bit_width).max().unwrap_or(0);
    let chunks = count.div_ceil(BLOCK);
    let section: usize =
        (0..chunks).map(|k| 1 + ((chunk(k).len() - 2) * width(chunk(k)) as usize).div_ceil(8)).sum();
    let mut pos = put_varint(out, pos, section as u64)?;
    for k in 0..chunks {
        let c = chunk(k);
        let w = width(c);
        *out.get_mut(pos).ok_or(BatchError::BufferTooSmall)? = w as u8;
        let mut bw = BitWriter::new(out, pos + 1);
        for d in dods(c) {
            bw.write(d, w)?;
        }
        pos = bw.finish()?;
    }
    Ok(pos)
}

/// The fixed part of a batch, and its two sections.
struct Header<'a> {
    count: u64,
    t0: u64,
    d0: i64,
    timestamps: &'a [u8],
    values: &'a [u8],
}

fn header(bytes: &[u8]) -> Result<Header<'_>, BatchError> {
    let mut input = bytes;
    let version = take(&mut input, 1)?[0];
    if version != BATCH_VERSION {
        return Err(BatchError::UnsupportedVersion { found: version, supported: BATCH_VERSION });
    }
    let count = take_varint(&mut input)?;
    if count == 0 {
        return Ok(Header { count, t0: 0, d0: 0, timestamps: &[], values: input });
    }
    // Every value block takes at least 4 bytes (decimal) or 9 (xor).
    if count.div_ceil(BLOCK as u64).saturating_mul(4) > bytes.len() as u64 {
        return Err(BatchError::ImplausibleCount { count, len: bytes.len() });
    }
    let t0 = take_varint(&mut input)?;
    let d0 = if count > 1 { unzigzag(take_varint(&mut input)?) } else { 0 };
    let ts_len = usize::try_from(take_varint(&mut input)?).map_err(|_| BatchError::Truncated)?;
    let timestamps = take(&mut input, ts_len)?;
    Ok(Header { count, t0, d0, timestamps, values: input })
}

/// Decodes block by block: `sink` gets each block's timestamps and values (at most
/// [`BLOCK`] of each).
fn decode_blocks(bytes: &[u8], mut sink: impl FnMut(&[u64], &[f64])) -> Result<u64, BatchError> {
    let Header { count, t0, d0, timestamps: mut ts, values: mut input } = header(bytes)?;
    let (mut t, mut d) = (t0, d0);
    let mut times = [0u64; BLOCK];
    let mut vals = [0f64; BLOCK];
    let mut dods = [0u64; BLOCK];
    let (mut dod_pos, mut dod_len) = (0usize, 0usize);
    let mut dods_left = count.saturating_sub(2);
    let mut done: u64 = 0;
    while done < count {
        let k = (count - done).min(BLOCK as u64) as usize;
        // The first two timestamps come from the header, the rest from delta-of-deltas.
        let head = if done == 0 { k.min(2) } else { 0 };
        if head > 0 {
            times[0] = t;
        }
        if head > 1 {
            t = t.wrapping_add(d as u64);
            times[1] = t;
        }
        let mut i = head;
        while i < k {
            if dod_pos == dod_len {
                let n = dods_left.min(BLOCK as u64) as usize;
                let width = take(&mut ts, 1)?[0];
                let body = take(&mut ts, (n * usize::from(width.min(64))).div_ceil(8))?;
                unpack(body, width, &mut dods[..n])?;
                (dod_pos, dod_len) = (0, n);
                dods_left -= n as u64;
            }
            let run = (k - i).min(dod_len - dod_pos);
            for (slot, z) in times[i..i + run].iter_mut().zip(&dods[dod_pos..dod_pos + run]) {
                d = d.wrapping_add(unzigzag(*z));
                t = t.wrapping_add(d as u64);
                *slot = t;
            }
            i += run;
            dod_pos += run;
        }
        values::decode_block(&mut input, &mut vals[..k])?;
        sink(&times[..k], &vals[..k]);
        done += k as u64;
    }
    if !ts.is_empty() {
        return Err(BatchError::SectionMismatch);
    }
    match input.len() {
        0 => Ok(count),
        extra => Err(BatchError::TrailingBytes { extra }),
    }
}

/// Unpacks `out.len()` fields of `width` bits from `body` (which holds exactly that many bits,
/// rounded up to a byte).
fn unpack(body: &[u8], width: u8, out: &mut [u64]) -> Result<(), BatchError> {
    if width > 64 {
        return Err(BatchError::BadWidth { width });
    }
    if width == 0 {
        out.fill(0);
        return Ok(());
    }
    if width > 56 || body.len() > BLOCK * 7 {
        let mut r = BitReader::new(body);
        for o in out {
            *o = r.read(u32::from(width))?;
        }
        return Ok(());
    }
    // Fast path: any field of up to 56 bits lies within the 8 bytes at its first byte; pad the
    // body so that those 8 bytes always exist.
    let mut padded = [0u8; BLOCK * 7 + 8];
    padded[..body.len()].copy_from_slice(body);
    let mask = (1u64 << width) - 1;
    let width = usize::from(width);
    for (i, o) in out.iter_mut().enumerate() {
        let bit = i * width;
        let mut word = [0u8; 8];
        word.copy_from_slice(&padded[bit / 8..bit / 8 + 8]);
        *o = (u64::from_le_bytes(word) >> (bit % 8)) & mask;
    }
    Ok(())
}

/// Decodes a batch, calling `sink` with each sample in order; returns the sample count.
/// Needs no allocator. On error, `sink` may already have seen the samples before the fault.
pub fn decode_with(bytes: &[u8], mut sink: impl FnMut(Timestamp, f64)) -> Result<u64, BatchError> {
    decode_blocks(bytes, |ts, vs| {
        for (t, v) in ts.iter().zip(vs) {
            sink(Timestamp(*t), *v);
        }
    })
}

/// Decodes a batch into the front of `out`; returns how many samples were written.
pub fn decode_into(bytes: &[u8], out: &mut [(Timestamp, f64)]) -> Result<usize, BatchError> {
    let mut n = 0usize;
    let mut overflow = false;
    let count = decode_with(bytes, |t, v| match out.get_mut(n) {
        Some(slot) => {
            *slot = (t, v);
            n += 1;
        }
        None => overflow = true,
    })?;
    if overflow {
        return Err(BatchError::OutputTooSmall { capacity: out.len(), count });
    }
    Ok(n)
}

/// Decodes a batch into a new `Vec`.
#[cfg(feature = "alloc")]
pub fn decode_to_vec(bytes: &[u8]) -> Result<alloc::vec::Vec<(Timestamp, f64)>, BatchError> {
    // The count is checked against the input's length, so this reserves in proportion to it.
    let count = header(bytes)?.count;
    let mut out = alloc::vec::Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    decode_blocks(bytes, |ts, vs| out.extend(ts.iter().zip(vs).map(|(t, v)| (Timestamp(*t), *v))))?;
    Ok(out)
}

#[cfg(test)]
mod tests;

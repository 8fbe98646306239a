//! Value blocks: decimal (scaled integers, delta, bit-packed) or XOR (Gorilla-style).

use telemetra_core::Timestamp;
use telemetra_core::decimal::{MAX_SCALE, mantissa_at, pow10};

use super::bits::{BitReader, BitWriter, bit_width, put_varint, take, take_varint, unzigzag, zigzag};
use super::{BLOCK, BatchError};

/// Mode byte of an XOR block; 0..=15 are decimal scales.
const XOR: u8 = 0x80;

/// The most values of a decimal block that may be stored raw (a NaN from a faulty sensor, a
/// value with no short decimal form); a block with more goes XOR.
const MAX_EXCEPTIONS: usize = 8;

/// The decimal form of a whole block: its scale, mantissas, delta width and raw exceptions.
struct Decimal {
    scale: u8,
    mantissas: [i64; BLOCK],
    width: u32,
    exceptions: heapless::Vec<(u8, u64), MAX_EXCEPTIONS>,
}

impl Decimal {
    fn of(block: &[(Timestamp, f64)]) -> Option<Decimal> {
        // The smallest scale at which every value but the exceptions is exact. Exactness at k
        // carries to larger k while the mantissa stays below 2^53; the second pass checks.
        let mut scale = 0u8;
        let mut exceptional = [false; BLOCK];
        for (i, (_, v)) in block.iter().enumerate() {
            if mantissa_at(*v, scale).is_some() {
                continue;
            }
            match (scale + 1..=MAX_SCALE).find(|&k| mantissa_at(*v, k).is_some()) {
                Some(k) => scale = k,
                None => exceptional[i] = true,
            }
        }
        let mut d = Decimal { scale, mantissas: [0; BLOCK], width: 0, exceptions: heapless::Vec::new() };
        let mut prev = 0i64;
        for (i, (_, v)) in block.iter().enumerate() {
            let m = match mantissa_at(*v, scale).filter(|_| !exceptional[i]) {
                Some(m) => m,
                None => {
                    d.exceptions.push((i as u8, v.to_bits())).ok()?;
                    prev
                }
            };
            if i > 0 {
                d.width = d.width.max(bit_width(zigzag(m.wrapping_sub(prev))));
            }
            d.mantissas[i] = m;
            prev = m;
        }
        Some(d)
    }

    fn encoded_len(&self, n: usize) -> usize {
        let m0 = zigzag(self.mantissas[0]);
        3 + 9 * self.exceptions.len()
            + (bit_width(m0).max(1) as usize).div_ceil(7)
            + ((n - 1) * self.width as usize).div_ceil(8)
    }

    fn write(&self, n: usize, out: &mut [u8], pos: usize) -> Result<usize, BatchError> {
        let mut pos = put_bytes(out, pos, &[self.scale, self.exceptions.len() as u8])?;
        for (index, bits) in &self.exceptions {
            pos = put_bytes(out, pos, &[*index])?;
            pos = put_bytes(out, pos, &bits.to_le_bytes())?;
        }
        let pos = put_varint(out, pos, zigzag(self.mantissas[0]))?;
        let pos = put_bytes(out, pos, &[self.width as u8])?;
        let mut bw = BitWriter::new(out, pos);
        for w in self.mantissas[..n].windows(2) {
            bw.write(zigzag(w[1].wrapping_sub(w[0])), self.width)?;
        }
        bw.finish()
    }
}

fn put_bytes(out: &mut [u8], pos: usize, bytes: &[u8]) -> Result<usize, BatchError> {
    let end = pos + bytes.len();
    out.get_mut(pos..end).ok_or(BatchError::BufferTooSmall)?.copy_from_slice(bytes);
    Ok(end)
}

pub(super) fn encode_block(
    block: &[(Timestamp, f64)],
    out: &mut [u8],
    pos: usize,
) -> Result<usize, BatchError> {
    let n = block.len();
    let decimal = Decimal::of(block);
    // XOR costs at least its 9-byte header and one bit per further value.
    let xor_floor = 9 + (n - 1).div_ceil(8);
    match &decimal {
        Some(d) if d.encoded_len(n) <= xor_floor => d.write(n, out, pos),
        Some(d) => match write_xor(block, out, pos) {
            Ok(end) if end - pos <= d.encoded_len(n) => Ok(end),
            _ => d.write(n, out, pos),
        },
        None => write_xor(block, out, pos),
    }
}

fn write_xor(block: &[(Timestamp, f64)], out: &mut [u8], pos: usize) -> Result<usize, BatchError> {
    let first = block[0].1.to_bits();
    let pos = put_bytes(out, pos, &[XOR])?;
    let pos = put_bytes(out, pos, &first.to_le_bytes())?;
    let mut bw = BitWriter::new(out, pos);
    let mut prev = first;
    // The current window: leading zeros and meaningful length; none yet.
    let mut window: Option<(u32, u32)> = None;
    for (_, v) in &block[1..] {
        let bits = v.to_bits();
        let x = bits ^ prev;
        prev = bits;
        if x == 0 {
            bw.write(0, 1)?;
            continue;
        }
        let lead = x.leading_zeros();
        let trail = x.trailing_zeros();
        match window {
            Some((wl, wlen)) if lead >= wl && trail >= 64 - wl - wlen => {
                bw.write(0b01, 2)?; // '1' then '0': reuse the window
                bw.write(x >> (64 - wl - wlen), wlen)?;
            }
            _ => {
                let len = 64 - lead - trail;
                bw.write(0b11, 2)?;
                bw.write(u64::from(lead), 6)?;
                bw.write(u64::from(len - 1), 6)?;
                bw.write(x >> trail, len)?;
                window = Some((lead, len));
            }
        }
    }
    bw.finish()
}

pub(super) fn decode_block(input: &mut &[u8], out: &mut [f64]) -> Result<(), BatchError> {
    let mode = take(input, 1)?[0];
    match mode {
        0..=MAX_SCALE => decode_decimal(input, mode, out),
        XOR => decode_xor(input, out),
        _ => Err(BatchError::BadMode { mode }),
    }
}

fn decode_decimal(input: &mut &[u8], scale: u8, out: &mut [f64]) -> Result<(), BatchError> {
    let p = pow10(scale).ok_or(BatchError::BadMode { mode: scale })?;
    let n_exceptions = usize::from(take(input, 1)?[0]);
    if n_exceptions > MAX_EXCEPTIONS.min(out.len()) {
        return Err(BatchError::BadException);
    }
    let exceptions = take(input, 9 * n_exceptions)?;
    let m0 = unzigzag(take_varint(input)?);
    let width = take(input, 1)?[0];
    let n = out.len();
    let body = take(input, ((n - 1) * usize::from(width.min(64))).div_ceil(8))?;
    let mut deltas = [0u64; BLOCK];
    super::unpack(body, width, &mut deltas[..n - 1])?;
    // Two passes: the running sum is a dependency chain, the conversion and division are not,
    // and in a loop of their own they pipeline.
    let mut mantissas = [0i64; BLOCK];
    let mut m = m0;
    mantissas[0] = m;
    for (slot, z) in mantissas[1..n].iter_mut().zip(&deltas) {
        m = m.wrapping_add(unzigzag(*z));
        *slot = m;
    }
    for (slot, m) in out.iter_mut().zip(&mantissas) {
        *slot = *m as f64 / p;
    }
    for e in exceptions.chunks_exact(9) {
        let mut bits = [0u8; 8];
        bits.copy_from_slice(&e[1..]);
        *out.get_mut(usize::from(e[0])).ok_or(BatchError::BadException)? =
            f64::from_bits(u64::from_le_bytes(bits));
    }
    Ok(())
}

fn decode_xor(input: &mut &[u8], out: &mut [f64]) -> Result<(), BatchError> {
    let mut first = [0u8; 8];
    first.copy_from_slice(take(input, 8)?);
    let mut prev = u64::from_le_bytes(first);
    let (head, rest) = out.split_first_mut().ok_or(BatchError::Truncated)?;
    *head = f64::from_bits(prev);
    // The bit stream's length is not stored: read from all that is left, then give back the
    // bytes not consumed (the stream is padded to a byte boundary).
    let mut r = CountingReader::new(input);
    let mut window: Option<(u32, u32)> = None;
    for slot in rest {
        if r.read(1)? == 1 {
            let (lead, len) = if r.read(1)? == 1 {
                let lead = r.read(6)? as u32;
                let len = r.read(6)? as u32 + 1;
                if lead + len > 64 {
                    return Err(BatchError::BadWindow);
                }
                *window.insert((lead, len))
            } else {
                window.ok_or(BatchError::BadWindow)?
            };
            prev ^= r.read(len)? << (64 - lead - len);
        }
        *slot = f64::from_bits(prev);
    }
    *input = &input[r.bytes_used()..];
    Ok(())
}

/// A bit reader that knows how many whole bytes it consumed.
struct CountingReader<'a> {
    inner: BitReader<'a>,
    bits: usize,
}

impl<'a> CountingReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        CountingReader { inner: BitReader::new(data), bits: 0 }
    }

    fn read(&mut self, width: u32) -> Result<u64, BatchError> {
        self.bits += width as usize;
        self.inner.read(width)
    }

    fn bytes_used(&self) -> usize {
        self.bits.div_ceil(8)
    }
}

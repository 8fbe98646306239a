//! Little-endian bit packing and the varint and zigzag helpers of the batch format.

use super::BatchError;

/// Writes bit fields least-significant bit first into a byte slice.
pub(super) struct BitWriter<'a> {
    out: &'a mut [u8],
    pos: usize,
    acc: u128,
    nbits: u32,
}

impl<'a> BitWriter<'a> {
    pub(super) fn new(out: &'a mut [u8], pos: usize) -> Self {
        BitWriter { out, pos, acc: 0, nbits: 0 }
    }

    /// Appends the low `width` bits of `value` (`width <= 64`).
    #[inline]
    pub(super) fn write(&mut self, value: u64, width: u32) -> Result<(), BatchError> {
        debug_assert!(width <= 64);
        if width == 0 {
            return Ok(());
        }
        let masked = if width == 64 { value } else { value & ((1u64 << width) - 1) };
        self.acc |= u128::from(masked) << self.nbits;
        self.nbits += width;
        while self.nbits >= 8 {
            *self.out.get_mut(self.pos).ok_or(BatchError::BufferTooSmall)? = self.acc as u8;
            self.pos += 1;
            self.acc >>= 8;
            self.nbits -= 8;
        }
        Ok(())
    }

    /// Pads to a byte boundary and returns the position after the last byte written.
    pub(super) fn finish(mut self) -> Result<usize, BatchError> {
        if self.nbits > 0 {
            *self.out.get_mut(self.pos).ok_or(BatchError::BufferTooSmall)? = self.acc as u8;
            self.pos += 1;
        }
        Ok(self.pos)
    }
}

/// Reads bit fields written by [`BitWriter`].
pub(super) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u128,
    nbits: u32,
}

impl<'a> BitReader<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        BitReader { data, pos: 0, acc: 0, nbits: 0 }
    }

    /// Reads `width` bits (`width <= 64`).
    #[inline]
    pub(super) fn read(&mut self, width: u32) -> Result<u64, BatchError> {
        if self.nbits < width {
            self.refill();
            if self.nbits < width {
                return Err(BatchError::Truncated);
            }
        }
        let v = if width == 64 { self.acc as u64 } else { (self.acc as u64) & ((1u64 << width) - 1) };
        // `width` can be 0..=64 and `acc` is 128 bits wide, so the shift is in range.
        self.acc >>= width;
        self.nbits -= width;
        Ok(v)
    }

    #[inline]
    fn refill(&mut self) {
        if self.nbits <= 64
            && let Some(word) = self.data.get(self.pos..self.pos + 8)
        {
            let mut b = [0u8; 8];
            b.copy_from_slice(word);
            self.acc |= u128::from(u64::from_le_bytes(b)) << self.nbits;
            self.pos += 8;
            self.nbits += 64;
            return;
        }
        while self.nbits <= 120 {
            let Some(&byte) = self.data.get(self.pos) else {
                return;
            };
            self.acc |= u128::from(byte) << self.nbits;
            self.pos += 1;
            self.nbits += 8;
        }
    }
}

/// Maps signed to unsigned so that small magnitudes get small codes: 0, -1, 1, -2, ...
#[inline]
pub(super) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The inverse of [`zigzag`].
#[inline]
pub(super) fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// Bits needed to hold `v` (0 for 0).
#[inline]
pub(super) fn bit_width(v: u64) -> u32 {
    64 - v.leading_zeros()
}

/// Appends a LEB128 varint at `pos`, returning the position after it.
pub(super) fn put_varint(out: &mut [u8], mut pos: usize, mut v: u64) -> Result<usize, BatchError> {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        let slot = out.get_mut(pos).ok_or(BatchError::BufferTooSmall)?;
        pos += 1;
        if v == 0 {
            *slot = byte;
            return Ok(pos);
        }
        *slot = byte | 0x80;
    }
}

/// Reads a LEB128 varint of at most 10 bytes from the front of `input`.
pub(super) fn take_varint(input: &mut &[u8]) -> Result<u64, BatchError> {
    let mut v = 0u64;
    for i in 0..10 {
        let (&byte, rest) = input.split_first().ok_or(BatchError::Truncated)?;
        *input = rest;
        let bits = u64::from(byte & 0x7f);
        if i == 9 && bits > 1 {
            return Err(BatchError::BadVarint);
        }
        v |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(BatchError::BadVarint)
}

/// Takes `n` bytes from the front of `input`.
pub(super) fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], BatchError> {
    if input.len() < n {
        return Err(BatchError::Truncated);
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn bit_fields_round_trip(fields in proptest::collection::vec((any::<u64>(), 0u32..=64), 0..200)) {
            let mut buf = std::vec![0u8; 200 * 8 + 1];
            let mut w = BitWriter::new(&mut buf, 0);
            for (v, width) in &fields {
                w.write(*v, *width).unwrap();
            }
            let end = w.finish().unwrap();
            let mut r = BitReader::new(&buf[..end]);
            for (v, width) in &fields {
                let mask = if *width == 64 { u64::MAX } else { (1u64 << width) - 1 };
                prop_assert_eq!(r.read(*width).unwrap(), v & mask);
            }
        }

        #[test]
        fn varints_round_trip(v in any::<u64>()) {
            let mut buf = [0u8; 10];
            let end = put_varint(&mut buf, 0, v).unwrap();
            let mut input = &buf[..end];
            prop_assert_eq!(take_varint(&mut input).unwrap(), v);
            prop_assert!(input.is_empty());
        }
    }

    #[test]
    fn overlong_varints_are_rejected() {
        let mut input: &[u8] = &[0xff; 11];
        assert_eq!(take_varint(&mut input), Err(BatchError::BadVarint));
        let mut input: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(take_varint(&mut input), Err(BatchError::BadVarint));
        let mut input: &[u8] = &[0x80];
        assert_eq!(take_varint(&mut input), Err(BatchError::Truncated));
    }
}

//! The bytes of a message body not read yet, for the decoders that read a body container by
//! container instead of through serde's derived visitors (`rule_in_place`,
//! `command_decoder`): postcard's layout read by hand (varints, strings, numbers), with
//! postcard's checks (an over-long varint, bad UTF-8, a boolean or option byte other than 0 and
//! 1). Each `take::<T>` through serde instantiates a deserializer for `T`; on a
//! microcontroller these few readers cost less than the instantiations they replace.

use telemetra_core::Number;

use crate::error::DecodeError;

/// The unread rest of a body.
pub(crate) struct Input<'a>(pub(crate) &'a [u8]);

impl Input<'_> {
    /// A length prefix (postcard's `varint(usize)`), at most `max`.
    pub(crate) fn len(&mut self, max: usize) -> Result<usize, DecodeError> {
        let n = self.varint(usize::BITS)? as usize;
        if n > max {
            return Err(DecodeError::InvalidField);
        }
        Ok(n)
    }

    /// An enum's variant index (postcard's `varint(u32)`).
    pub(crate) fn variant(&mut self) -> Result<u32, DecodeError> {
        self.u32()
    }

    /// A varint of an integer type of `bits` bits, as postcard reads it: at most
    /// `ceil(bits / 7)` bytes, the last of which may not carry bits beyond the type.
    fn varint(&mut self, bits: u32) -> Result<u64, DecodeError> {
        let max = bits.div_ceil(7);
        let mut out = 0u64;
        for i in 0..max {
            let b = self.byte()?;
            out |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return if i == max - 1 && u32::from(b) > (1 << (bits % 7)) - 1 {
                    Err(DecodeError::BadVarint)
                } else {
                    Ok(out)
                };
            }
        }
        Err(DecodeError::BadVarint)
    }

    /// A `u16`.
    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        self.varint(16).map(|v| v as u16)
    }

    /// A `u32`.
    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        self.varint(32).map(|v| v as u32)
    }

    /// A `u64`.
    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        self.varint(64)
    }

    /// An `i64` (zigzag).
    pub(crate) fn i64(&mut self) -> Result<i64, DecodeError> {
        self.u64().map(unzigzag)
    }

    /// A `bool`.
    pub(crate) fn bool(&mut self) -> Result<bool, DecodeError> {
        self.flag(DecodeError::BadBool)
    }

    /// A byte that must be 0 or 1 (a `bool`, an option's tag); `bad` otherwise.
    fn flag(&mut self, bad: DecodeError) -> Result<bool, DecodeError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(bad),
        }
    }

    /// `n` raw bytes.
    fn bytes(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if n > self.0.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    /// A string of at most `N` bytes (a `Name`, a `Text`, a URL).
    pub(crate) fn string<const N: usize>(&mut self) -> Result<heapless::String<N>, DecodeError> {
        // A length over the capacity is refused before the bytes are looked at.
        let n = self.varint(usize::BITS)? as usize;
        if n > N {
            return Err(DecodeError::InvalidField);
        }
        let mut out = heapless::String::new();
        // Fits (at most N bytes), so only bad UTF-8 fails.
        crate::utf8::push_utf8(self.bytes(n)?, out.as_mut_view()).ok_or(DecodeError::BadUtf8)?;
        Ok(out)
    }

    /// A [`Number`]: `Decimal(zigzag(m) << 4 | k)` or `Raw(f64)`.
    pub(crate) fn number(&mut self) -> Result<Number, DecodeError> {
        match self.variant()? {
            0 => {
                let packed = self.u64()?;
                Number::decimal(unzigzag(packed >> 4), (packed & 0xf) as u8).ok_or(DecodeError::InvalidField)
            }
            1 => {
                let le: [u8; 8] = self.bytes(8)?.try_into().map_err(|_| DecodeError::Truncated)?;
                Ok(Number::raw(f64::from_le_bytes(le)))
            }
            _ => Err(DecodeError::InvalidField),
        }
    }

    /// An option's tag: whether a value follows.
    pub(crate) fn some(&mut self) -> Result<bool, DecodeError> {
        self.flag(DecodeError::BadOption)
    }

    /// One raw byte (a `u8` in postcard).
    pub(crate) fn byte(&mut self) -> Result<u8, DecodeError> {
        let (&b, rest) = self.0.split_first().ok_or(DecodeError::Truncated)?;
        self.0 = rest;
        Ok(b)
    }

    /// The end of the body: nothing may follow.
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        match self.0.len() {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingBytes { extra }),
        }
    }
}

/// A signed integer from postcard's zigzag form.
fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

//! Block-wise transfers (RFC 7959): the value of a Block1 or Block2 option — which block, of
//! what size, and whether more follow — and the arithmetic of cutting a body into blocks;
//! [`transfer`] runs a whole transfer in either direction.

pub mod transfer;

/// A Block1 or Block2 option value: block number `num`, `more` blocks follow, size
/// 2^(`szx` + 4) bytes (16 to 1024; `szx` 7 is reserved for BERT over TCP).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Block {
    /// The block number, 0 to 2^20 − 1.
    pub num: u32,
    /// More blocks follow.
    pub more: bool,
    /// The size exponent: the block holds 2^(szx + 4) bytes.
    pub szx: u8,
}

/// The largest block number the option can carry.
pub const MAX_NUM: u32 = (1 << 20) - 1;

/// Why a Block option value was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
    /// More than 3 bytes.
    #[error("a Block option longer than 3 bytes")]
    TooLong,
    /// SZX 7 (reserved outside BERT, RFC 8323).
    #[error("block size exponent 7 is reserved")]
    ReservedSize,
    /// A block number above 2^20 − 1, or a size outside 16..=1024 bytes.
    #[error("block number or size out of range")]
    OutOfRange,
}

impl Block {
    /// Block `num` of `size` bytes (a power of two from 16 to 1024).
    pub fn new(num: u32, more: bool, size: usize) -> Result<Block, BlockError> {
        if num > MAX_NUM || !size.is_power_of_two() || !(16..=1024).contains(&size) {
            return Err(BlockError::OutOfRange);
        }
        Ok(Block { num, more, szx: (size.trailing_zeros() - 4) as u8 })
    }

    /// Reads an option value (0 to 3 bytes, big-endian `num << 4 | m << 3 | szx`).
    pub fn decode(bytes: &[u8]) -> Result<Block, BlockError> {
        if bytes.len() > 3 {
            return Err(BlockError::TooLong);
        }
        let v = bytes.iter().fold(0u32, |v, &b| v << 8 | u32::from(b));
        let szx = (v & 7) as u8;
        if szx == 7 {
            return Err(BlockError::ReservedSize);
        }
        Ok(Block { num: v >> 4, more: v & 8 != 0, szx })
    }

    /// The option value, shortest form (0 is no bytes).
    pub fn value(&self) -> u32 {
        self.num << 4 | u32::from(self.more) << 3 | u32::from(self.szx)
    }

    /// The block size in bytes.
    pub const fn size(&self) -> usize {
        1 << (self.szx as usize + 4)
    }

    /// Where this block starts in the body.
    pub const fn offset(&self) -> usize {
        self.num as usize * self.size()
    }

    /// This block of `body`, with `more` set as the body says (`None` past its end).
    pub fn of(num: u32, size: usize, body: &[u8]) -> Option<(Block, &[u8])> {
        let b = Block::new(num, false, size).ok()?;
        let start = b.offset();
        if start > body.len() || (start == body.len() && start != 0) {
            return None;
        }
        let end = (start + b.size()).min(body.len());
        Some((Block { more: end < body.len(), ..b }, &body[start..end]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    #[test]
    fn values_as_the_rfc_encodes_them() {
        // RFC 7959 §2.2: NUM 0, M 0, SZX 6 (1024 bytes) is the one byte 0x06.
        assert_eq!(Block::decode(&[0x06]), Ok(Block { num: 0, more: false, szx: 6 }));
        assert_eq!(Block::new(0, false, 1024).unwrap().value(), 0x06);
        assert_eq!(Block::decode(&[]), Ok(Block { num: 0, more: false, szx: 0 }));
        assert_eq!(Block::decode(&[0x0e]).unwrap(), Block { num: 0, more: true, szx: 6 });
        assert_eq!(Block::decode(&[0x01, 0x2e]).unwrap(), Block { num: 18, more: true, szx: 6 });
        assert_eq!(Block::decode(&[0x07]), Err(BlockError::ReservedSize));
        assert_eq!(Block::decode(&[0, 0, 0, 0]), Err(BlockError::TooLong));
        assert_eq!(Block::new(MAX_NUM + 1, false, 16), Err(BlockError::OutOfRange));
        assert_eq!(Block::new(0, false, 2048), Err(BlockError::OutOfRange));
        assert_eq!(Block::new(0, false, 100), Err(BlockError::OutOfRange));
    }

    proptest! {
        #[test]
        fn a_body_cut_into_blocks_and_joined_is_the_same(body in proptest::collection::vec(any::<u8>(), 0..5000), szx in 0u8..7) {
            let size = 16usize << szx;
            let mut joined = Vec::new();
            let mut num = 0;
            loop {
                let (b, part) = Block::of(num, size, &body).unwrap();
                prop_assert_eq!(b.offset(), joined.len());
                prop_assert!(part.len() == size || !b.more);
                joined.extend_from_slice(part);
                // Through the option's bytes and back.
                let mut buf = [0u8; 4];
                prop_assert_eq!(Block::decode(crate::coap::uint_bytes(b.value(), &mut buf)), Ok(b));
                if !b.more {
                    break;
                }
                num += 1;
            }
            prop_assert_eq!(&joined, &body);
            prop_assert!(Block::of(num + 1, size, &body).is_none(), "nothing past the last block");
        }
    }
}

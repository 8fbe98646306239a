//! The two block-wise transfers (RFC 7959 §2.3, §2.4) as a requester runs them: sending a body
//! in Block1 blocks ([`Upload`]) and fetching one in Block2 blocks ([`Download`]). Each is the
//! bookkeeping only (which block next, at which size, whether the peer's answer fits): the
//! caller owns the body and sends the requests, so a device can stream from flash and a server
//! can gather into a buffer of its choosing.

use core::ops::Range;

use super::{Block, BlockError};
use crate::coap::code::Code;

/// Why a block-wise transfer stopped.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// The peer answered a block with this code (4.08 Request Entity Incomplete, 4.13 Request
    /// Entity Too Large at the smallest size, or any other error).
    #[error("the peer answered {} {}", .0, .0.name())]
    Refused(Code),
    /// The peer's Block option does not fit the transfer (another block number, a block
    /// shorter than its size with more to come, or none where one must be).
    #[error("the peer's block does not fit the transfer")]
    Mismatch,
    /// The body would exceed the limit the transfer was given.
    #[error("the body exceeds {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
}

/// Whether a transfer goes on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Progress {
    /// Send the next request ([`Upload::block`] or [`Download::next`]).
    Next,
    /// The transfer is complete.
    Finished,
}

/// Sending a body of `total` bytes in Block1 blocks.
///
/// ```
/// use telemetra_transports::coap::block::{Block, transfer::{Progress, Upload}};
/// use telemetra_transports::coap::Code;
///
/// let mut up = Upload::new(40, 16).unwrap();
/// let (b, range) = up.block();
/// assert_eq!((b.num, b.more, range), (0, true, 0..16));
/// // The server wants smaller blocks from now on (a Block1 of 8 bytes in its 2.31).
/// let echo = Block::new(0, true, 16).unwrap();
/// assert_eq!(up.on_response(Code::CONTINUE, Some(Block { szx: 0, ..echo })), Ok(Progress::Next));
/// assert_eq!(up.block().1, 16..32);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Upload {
    total: usize,
    size: usize,
    offset: usize,
}

impl Upload {
    /// A body of `total` bytes in blocks of `size` (a power of two, 16 to 1024).
    pub fn new(total: usize, size: usize) -> Result<Upload, BlockError> {
        Block::new(0, false, size)?;
        Ok(Upload { total, size, offset: 0 })
    }

    /// The block to send now, and which bytes of the body it carries.
    pub fn block(&self) -> (Block, Range<usize>) {
        let end = (self.offset + self.size).min(self.total);
        let num = (self.offset / self.size) as u32;
        let szx = (self.size.trailing_zeros() - 4) as u8;
        (Block { num, more: end < self.total, szx }, self.offset..end)
    }

    /// Takes the response to the block just sent: its code and Block1 option.
    ///
    /// 2.31 Continue (or a success echoing the block, from a server that stores each block
    /// as it comes) moves on, at the smaller size if the server asks for one; a 4.13 to the
    /// first block with a smaller Block1 size starts again at that size (§2.9.3); a success to
    /// the last block finishes; anything else stops the transfer.
    pub fn on_response(&mut self, code: Code, block1: Option<Block>) -> Result<Progress, TransferError> {
        let (sent, range) = self.block();
        if code == Code::REQUEST_ENTITY_TOO_LARGE {
            return match block1 {
                Some(b) if sent.num == 0 && b.size() < self.size => {
                    self.size = b.size();
                    Ok(Progress::Next)
                }
                _ => Err(TransferError::Refused(code)),
            };
        }
        if code.class() != 2 {
            return Err(TransferError::Refused(code));
        }
        if !sent.more {
            return match code == Code::CONTINUE {
                true => Err(TransferError::Mismatch),
                false => Ok(Progress::Finished),
            };
        }
        let echo = block1.ok_or(TransferError::Mismatch)?;
        if echo.num != sent.num {
            return Err(TransferError::Mismatch);
        }
        self.offset = range.end;
        self.size = self.size.min(echo.size());
        Ok(Progress::Next)
    }
}

/// Fetching a body in Block2 blocks, at most `max` bytes of it.
///
/// ```
/// use telemetra_transports::coap::block::{Block, transfer::{Download, Progress}};
///
/// let mut down = Download::new(1 << 20);
/// assert_eq!(down.on_block(Block::new(0, true, 64).unwrap(), 64), Ok(Progress::Next));
/// assert_eq!(down.next(), Block::new(1, false, 64).unwrap());
/// assert_eq!(down.on_block(Block::new(1, false, 64).unwrap(), 10), Ok(Progress::Finished));
/// assert_eq!(down.received(), 74);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Download {
    max: usize,
    received: usize,
    size: usize,
}

impl Download {
    /// A transfer of at most `max` bytes.
    pub fn new(max: usize) -> Download {
        Download { max, received: 0, size: 1024 }
    }

    /// Bytes received so far (where the next block's payload goes).
    pub fn received(&self) -> usize {
        self.received
    }

    /// Takes a response's Block2 option and the length of its payload (which belongs at
    /// [`Download::received`] before the call).
    pub fn on_block(&mut self, block: Block, len: usize) -> Result<Progress, TransferError> {
        if block.offset() != self.received || len > block.size() || (block.more && len != block.size()) {
            return Err(TransferError::Mismatch);
        }
        if self.received + len > self.max {
            return Err(TransferError::TooLarge { max: self.max });
        }
        self.received += len;
        self.size = block.size();
        Ok(if block.more { Progress::Next } else { Progress::Finished })
    }

    /// The block to ask for next (at the size the server last used).
    pub fn next(&self) -> Block {
        let szx = (self.size.trailing_zeros() - 4) as u8;
        Block { num: (self.received / self.size) as u32, more: false, szx }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn cont(num: u32, size: usize) -> Option<Block> {
        Some(Block::new(num, true, size).unwrap())
    }

    #[test]
    fn an_upload_restarts_smaller_after_a_413_to_its_first_block() {
        let mut up = Upload::new(100, 64).unwrap();
        assert_eq!(up.on_response(Code::REQUEST_ENTITY_TOO_LARGE, cont(0, 32)), Ok(Progress::Next));
        assert_eq!(up.block().1, 0..32);
        // At the smallest size already, or later in the transfer: the end.
        let mut up = Upload::new(100, 16).unwrap();
        assert_eq!(
            up.on_response(Code::REQUEST_ENTITY_TOO_LARGE, cont(0, 16)),
            Err(TransferError::Refused(Code::REQUEST_ENTITY_TOO_LARGE))
        );
        let mut up = Upload::new(100, 32).unwrap();
        assert_eq!(up.on_response(Code::CONTINUE, cont(0, 32)), Ok(Progress::Next));
        assert!(up.on_response(Code::REQUEST_ENTITY_TOO_LARGE, cont(1, 16)).is_err());
    }

    #[test]
    fn an_upload_stops_at_an_error_or_a_wrong_echo() {
        let mut up = Upload::new(100, 32).unwrap();
        assert_eq!(
            up.on_response(Code::REQUEST_ENTITY_INCOMPLETE, None),
            Err(TransferError::Refused(Code::REQUEST_ENTITY_INCOMPLETE))
        );
        let mut up = Upload::new(100, 32).unwrap();
        assert_eq!(up.on_response(Code::CONTINUE, cont(3, 32)), Err(TransferError::Mismatch));
        assert_eq!(up.on_response(Code::CONTINUE, None), Err(TransferError::Mismatch));
        // A body that fits one block: one request, any success finishes it.
        let mut up = Upload::new(10, 32).unwrap();
        assert_eq!(up.block(), (Block::new(0, false, 32).unwrap(), 0..10));
        assert_eq!(up.on_response(Code::CHANGED, None), Ok(Progress::Finished));
    }

    #[test]
    fn a_download_refuses_gaps_short_blocks_and_excess() {
        let mut d = Download::new(100);
        assert_eq!(d.on_block(Block::new(1, true, 16).unwrap(), 16), Err(TransferError::Mismatch));
        assert_eq!(d.on_block(Block::new(0, true, 16).unwrap(), 15), Err(TransferError::Mismatch));
        let mut d = Download::new(40);
        assert_eq!(d.on_block(Block::new(0, true, 32).unwrap(), 32), Ok(Progress::Next));
        assert_eq!(
            d.on_block(Block::new(1, true, 32).unwrap(), 32),
            Err(TransferError::TooLarge { max: 40 })
        );
    }

    proptest! {
        /// Whatever sizes the server imposes on the way, the blocks sent cover the body once,
        /// in order.
        #[test]
        fn an_upload_covers_the_body_once(total in 0usize..5000, szx in 0u8..7, shrink in proptest::collection::vec(0u8..7, 0..40)) {
            let mut up = Upload::new(total, 16 << szx).unwrap();
            let mut covered = 0;
            let mut server_szx = shrink.into_iter();
            loop {
                let (b, range) = up.block();
                prop_assert_eq!(range.start, covered);
                prop_assert_eq!(b.offset(), covered);
                covered = range.end;
                if !b.more {
                    prop_assert_eq!(up.on_response(Code::CHANGED, Some(b)), Ok(Progress::Finished));
                    break;
                }
                let want = server_szx.next().unwrap_or(b.szx).min(b.szx);
                prop_assert_eq!(up.on_response(Code::CONTINUE, Some(Block { szx: want, ..b })), Ok(Progress::Next));
            }
            prop_assert_eq!(covered, total);
        }

        /// A body served in blocks (whatever size the server picks each time) is received whole.
        #[test]
        fn a_download_joins_the_served_blocks(body in proptest::collection::vec(any::<u8>(), 0..5000), sizes in proptest::collection::vec(0u8..7, 1..40)) {
            let mut d = Download::new(body.len());
            let mut joined = Vec::new();
            let mut size = 16usize << sizes[0];
            let mut sizes = sizes.into_iter().cycle();
            loop {
                let asked = d.next();
                size = size.min(asked.size()).min(16 << sizes.next().unwrap());
                let num = (d.received() / size) as u32;
                let (b, part) = Block::of(num, size, &body).unwrap();
                joined.extend_from_slice(part);
                if d.on_block(b, part.len())? == Progress::Finished {
                    break;
                }
            }
            prop_assert_eq!(joined, body);
        }
    }
}

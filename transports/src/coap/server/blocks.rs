//! Block-wise transfers on the serving side (RFC 7959): a body larger than one message is
//! served a Block2 block at a time, each request saying which block it wants and of what size
//! (§2.4); a request body sent in Block1 blocks is gathered into a bounded buffer (§2.5).

use telemetra_core::heapless;

use super::{Request, Server};
use crate::coap::block::Block;
use crate::coap::code::Code;
use crate::coap::message::{BuildError, Builder};
use crate::coap::option::{OptionNumber, uint_value};

impl<P: Copy + Eq, const N: usize, const M: usize, const O: usize, const K: usize> Server<P, N, M, O, K> {
    /// Answers `request` with the block of `body` it asks for (its Block2 option; block 0 if
    /// none), at most `max_block` bytes (a power of two, 16 to 1024) or the smaller size the
    /// client asked for: the options `options` adds (numbers below 23), then Block2, and Size2
    /// (the whole body's size) with block 0. A block past the end is answered 4.02 Bad Option.
    /// A body that fits in one block goes without a Block2 option.
    pub fn respond_body(
        &mut self,
        now: u64,
        request: &Request<'_, P>,
        code: Code,
        options: impl FnOnce(&mut Builder<'_>) -> Result<(), BuildError>,
        body: &[u8],
        max_block: usize,
    ) -> Result<&[u8], BuildError> {
        let asked = match request.message.option(OptionNumber::BLOCK2) {
            None => None,
            Some(v) => match Block::decode(v) {
                Ok(b) => Some(b),
                Err(_) => return self.respond(now, request, Code::BAD_OPTION, |_| Ok(()), b"bad Block2"),
            },
        };
        let size = asked.map_or(max_block, |b| b.size().min(max_block));
        if asked.is_none() && body.len() <= size {
            return self.respond(now, request, code, options, body);
        }
        let num = asked.map_or(0, |b| b.num);
        let Some((block, part)) = Block::of(num, size, body) else {
            return self.respond(now, request, Code::BAD_OPTION, |_| Ok(()), b"no such block");
        };
        let total = u32::try_from(body.len()).unwrap_or(u32::MAX);
        self.respond(
            now,
            request,
            code,
            |b| {
                options(b)?;
                b.uint_option(OptionNumber::BLOCK2, block.value())?;
                if block.num == 0 {
                    b.uint_option(OptionNumber::SIZE2, total)?;
                }
                Ok(())
            },
            part,
        )
    }
}

/// The Block2 option of a message, if it has a valid one.
pub fn block2_of(message: &crate::coap::Message<'_>) -> Option<Block> {
    Block::decode(message.option(OptionNumber::BLOCK2)?).ok()
}

/// The Size2 option of a message.
pub fn size2_of(message: &crate::coap::Message<'_>) -> Option<u32> {
    uint_value(message.option(OptionNumber::SIZE2)?)
}

/// What [`Assembly::take`] made of a Block1 block.
#[derive(Debug, PartialEq, Eq)]
pub enum Gathered<'b> {
    /// More blocks come: answer 2.31 Continue with this Block1 option.
    Continue(Block),
    /// The last block: the whole body, to process as the request's payload; answer with the
    /// final code and this Block1 option.
    Complete(&'b [u8], Block),
    /// A block out of sequence (not 0, and not the next one): answer 4.08 Request Entity
    /// Incomplete; the client starts again from block 0.
    Incomplete,
    /// The body would be larger than the buffer: answer 4.13 Request Entity Too Large with
    /// Size1 [`Assembly::capacity`].
    TooLarge,
}

/// A request body arriving in Block1 blocks (RFC 7959 §2.5), gathered into `B` bytes: one per
/// peer and resource being written to. Block 0 starts it afresh; each block must follow the
/// one before; a body that outgrows `B` (or announces a larger Size1) is refused.
///
/// ```
/// use telemetra_transports::coap::block::Block;
/// use telemetra_transports::coap::server::{Assembly, Gathered};
///
/// let mut a: Assembly<64> = Assembly::new();
/// let first = Block::new(0, true, 16).unwrap();
/// assert_eq!(a.take(first, &[1; 16], Some(20)), Gathered::Continue(first));
/// let last = Block::new(1, false, 16).unwrap();
/// assert_eq!(a.take(last, &[2; 4], None), Gathered::Complete(&[[1; 16].as_slice(), &[2; 4]].concat()[..], last));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Assembly<const B: usize> {
    body: heapless::Vec<u8, B>,
    /// The block expected next, while a body is being gathered.
    next: Option<u32>,
}

impl<const B: usize> Assembly<B> {
    /// Nothing gathered.
    pub const fn new() -> Self {
        Assembly { body: heapless::Vec::new(), next: None }
    }

    /// The largest body it takes.
    pub const fn capacity(&self) -> usize {
        B
    }

    /// Takes the block `block` with `payload`; `size1` is the request's Size1 option (the
    /// announced whole size), if any.
    pub fn take(&mut self, block: Block, payload: &[u8], size1: Option<u32>) -> Gathered<'_> {
        if block.num == 0 {
            self.body.clear();
            self.next = Some(0);
        }
        let in_sequence = self.next == Some(block.num) && (!block.more || payload.len() == block.size());
        if !in_sequence || block.offset() != self.body.len() {
            self.next = None;
            return Gathered::Incomplete;
        }
        if size1.is_some_and(|s| s as usize > B) || self.body.extend_from_slice(payload).is_err() {
            self.next = None;
            self.body.clear();
            return Gathered::TooLarge;
        }
        if block.more {
            self.next = Some(block.num + 1);
            return Gathered::Continue(block);
        }
        self.next = None;
        Gathered::Complete(&self.body, block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    #[test]
    fn gaps_restarts_and_excess_are_refused() {
        let mut a: Assembly<32> = Assembly::new();
        let b = |num, more| Block::new(num, more, 16).unwrap();
        assert_eq!(a.take(b(1, true), &[0; 16], None), Gathered::Incomplete, "no block 0 first");
        assert_eq!(a.take(b(0, true), &[0; 16], None), Gathered::Continue(b(0, true)));
        assert_eq!(a.take(b(2, true), &[0; 16], None), Gathered::Incomplete, "block 1 skipped");
        assert_eq!(a.take(b(0, true), &[0; 16], Some(33)), Gathered::TooLarge, "Size1 over the limit");
        assert_eq!(a.take(b(0, true), &[0; 16], None), Gathered::Continue(b(0, true)));
        assert_eq!(a.take(b(1, true), &[0; 16], None), Gathered::Continue(b(1, true)));
        assert_eq!(a.take(b(2, false), &[0; 1], None), Gathered::TooLarge, "one byte too many");
        assert_eq!(
            a.take(b(0, true), &[0; 15], None),
            Gathered::Incomplete,
            "a short block with more to come"
        );
    }

    proptest! {
        /// Any body within the limit, cut into blocks of any size, is gathered whole.
        #[test]
        fn a_body_in_blocks_is_gathered_whole(body in proptest::collection::vec(any::<u8>(), 0..600), szx in 0u8..7) {
            let mut a: Assembly<600> = Assembly::new();
            let size = 16usize << szx;
            let mut num = 0;
            loop {
                let (block, part) = Block::of(num, size, &body).unwrap();
                match a.take(block, part, Some(body.len() as u32)) {
                    Gathered::Continue(echo) => prop_assert_eq!(echo, block),
                    Gathered::Complete(whole, _) => {
                        prop_assert_eq!(whole, &body[..]);
                        break;
                    }
                    other => prop_assert!(false, "{:?}", other),
                }
                num += 1;
            }
        }
    }
}

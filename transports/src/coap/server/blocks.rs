//! Block-wise responses (RFC 7959 §2.4): a body larger than one message is served a Block2
//! block at a time, each request saying which block it wants and of what size.

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

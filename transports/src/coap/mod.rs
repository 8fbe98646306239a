//! CoAP (RFC 7252): the message format, codes and options, `no_std` and without allocation.
//!
//! This is the first layer of the CoAP transport: a checked view over untrusted datagrams
//! ([`Message::parse`]) and a builder into a caller's buffer ([`Builder`]), with every option
//! RFC 7252, 7641 (Observe), 7959 (Block1/Block2, Size1/Size2), 8613 (OSCORE) and 7967
//! (No-Response) define, and the §5.4 rules for critical options ([`Message::bad_critical_option`]).
//! Reliability, observe and block-wise build on it.

pub mod block;
pub mod client;
mod code;
#[cfg(feature = "tokio")]
pub mod driver;
mod message;
pub mod observe;
mod option;
#[cfg(feature = "oscore")]
pub mod oscore;
pub mod reliability;
pub mod server;
pub mod tcp;

pub use code::Code;
pub use message::{
    BuildError, Builder, FormatError, MAX_TOKEN, Message, Options, Type, confirmable_message_id,
};
pub use option::{Definition, Format, OptionNumber, uint_bytes, uint_value};

/// xorshift32: the next number from `state` (never 0 once seeded non-zero). Not for secrets:
/// for spreading tokens, Message IDs and retransmission timeouts.
pub(crate) fn xorshift(state: &mut u32) -> u32 {
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    *state
}

/// For the tests of a lossy link: a deterministic stream of numbers in `0..100`.
#[cfg(test)]
pub(crate) fn percent_rolls(seed: u32) -> impl FnMut() -> u32 {
    let mut rng = seed;
    move || xorshift(&mut rng) % 100
}

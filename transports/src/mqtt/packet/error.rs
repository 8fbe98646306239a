//! The error of packet decoding and encoding.

use super::wire::{PacketType, WireError};
use crate::mqtt::topic;

/// Why a packet was refused: malformed bytes, or a protocol rule broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PacketError {
    /// The bytes are not well-formed (see [`WireError`]).
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A topic name is not valid (empty without a topic alias, a wildcard, U+0000).
    #[error("invalid topic name: {0}")]
    Topic(#[from] topic::TopicError),
    /// A topic alias of 0, or above the Topic Alias Maximum this side announced.
    #[error("topic alias {alias} is out of range (maximum {max})")]
    TopicAlias {
        /// The alias received.
        alias: u16,
        /// The maximum announced.
        max: u16,
    },
    /// A property identifier that does not belong in this packet.
    #[error("property {id:#04x} is not allowed in {kind:?}")]
    UnexpectedProperty {
        /// The identifier.
        id: u8,
        /// The packet type.
        kind: PacketType,
    },
    /// A property that may appear once appears twice.
    #[error("property {id:#04x} appears more than once")]
    DuplicateProperty {
        /// The identifier.
        id: u8,
    },
    /// A property with a value the specification does not allow (a payload format other than
    /// 0 or 1, a subscription identifier of 0).
    #[error("property {id:#04x} has an invalid value")]
    BadPropertyValue {
        /// The identifier.
        id: u8,
    },
    /// A rule of the protocol broken (the text names it): a CONNECT with another protocol name
    /// or level, a reserved flag set, will flags without a will, a password without a user
    /// name in 3.1.1, a packet of the wrong type.
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    /// Bytes remain after the last field of the packet.
    #[error("{extra} bytes after the end of the packet")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
}

#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod batch;
pub mod deframer;
pub mod error;
pub mod frame;
pub mod framing;
pub mod limits;
#[cfg(feature = "senml")]
pub mod senml;

#[cfg(test)]
mod arbitrary;
#[cfg(test)]
mod golden;

pub use deframer::{Deframer, DeframerStats};
pub use error::{DecodeError, EncodeError, FrameError};
pub use frame::{Frame, Heartbeat, Message, RulePart, WIRE_VERSION};
pub use framing::{frame_into, max_framed_len};

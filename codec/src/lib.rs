#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod batch;
mod body;
mod command_decoder;
pub mod error;
pub mod frame;
mod input;
pub mod limits;
pub mod provision;
mod rule_in_place;
#[cfg(feature = "senml")]
pub mod senml;
pub mod stream;
mod utf8;
mod view;

#[cfg(test)]
mod arbitrary;
#[cfg(test)]
mod golden;

pub use body::{Body, ReadingsBody, encode_body};
pub use error::{DecodeError, EncodeError};
pub use frame::{Frame, Heartbeat, Message, RulePart, WIRE_VERSION};
pub use rule_in_place::RulePlace;
pub use view::{FrameView, MessageKind, Readings};

#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod assemble;

pub use assemble::{AssembleError, Progress, RuleSetAssembler};
pub use telemetra_core::rule::RuleError;

#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;

mod assemble;
#[cfg(feature = "alloc")]
mod compact;
#[cfg(feature = "alloc")]
pub mod engine;
#[cfg(feature = "alloc")]
pub mod lang;

pub use assemble::{AssembleError, HeldRule, Progress, RuleSetAssembler};
#[cfg(feature = "alloc")]
pub use compact::{CompactRule, IntoCompact};
#[cfg(feature = "alloc")]
pub use engine::{
    ChannelHandle, Engine, EngineConfig, EngineStats, Event, LoadError, LoadReport, NodeEngine, Real,
    StaleHandle, TruncatedWindow,
};
#[cfg(feature = "alloc")]
pub use lang::{
    ParseError, ParseWarning, parse, parse_command, parse_for, parse_rule, parse_with_warnings,
    print_command, print_rule, print_rules,
};
pub use telemetra_core::rule::RuleError;

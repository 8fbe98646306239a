#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use telemetra_core::*;

/// The wire format: frames, stream framing, batch compression, SenML (`telemetra-codec`).
pub use telemetra_codec as codec;

pub mod frames;

/// Rule sets and, soon, the rule engine (`telemetra-rules`).
pub use telemetra_rules as rules;

/// Transports (`telemetra-transports`): in-process memory, MQTT (feature `mqtt`, TLS with
/// `tls`), and [`transports::link::Link`], which picks one by URL.
#[cfg(feature = "std")]
pub use telemetra_transports as transports;

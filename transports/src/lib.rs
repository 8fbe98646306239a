#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;

#[cfg(feature = "std")]
mod delivery;
#[cfg(feature = "std")]
mod forward;
#[cfg(feature = "memory")]
pub mod link;
#[cfg(feature = "memory")]
pub mod memory;
#[cfg(feature = "mqtt")]
pub mod mqtt;

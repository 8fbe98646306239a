#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;

#[cfg(feature = "std")]
mod address;
#[cfg(all(feature = "tokio", any(feature = "coap", feature = "serial")))]
mod clock;
#[cfg(feature = "coap")]
pub mod coap;
#[cfg(feature = "std")]
mod delivery;
#[cfg(feature = "tokio")]
mod dial;
#[cfg(feature = "std")]
mod forward;
#[cfg(feature = "memory")]
pub mod link;
#[cfg(feature = "memory")]
pub mod memory;
#[cfg(feature = "mqtt")]
pub mod mqtt;
#[cfg(feature = "outbox")]
pub mod outbox;
#[cfg(feature = "provision")]
pub mod provision;
#[cfg(all(feature = "tokio", any(feature = "coap", feature = "serial")))]
mod random;
#[cfg(feature = "serial")]
pub mod serial;

#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod alert;
pub mod answered;
pub mod command;
pub mod decimal;
pub mod device;
pub mod ids;
pub mod ieee;
pub mod number;
pub mod quantity;
pub mod reading;
pub mod route;
pub mod rule;
pub mod text;
pub mod time;
pub mod transport;
pub mod unit;
pub mod value;

mod compact_f64;

/// The fixed-capacity collections of the model's public fields, re-exported so that users build
/// them with the same version.
pub use heapless;

pub use alert::{Alert, AlertState, Severity};
pub use command::{Command, CommandAck, CommandAction, CommandResult, FirmwareOffer, RejectReason};
pub use device::{ChannelSpec, Device, DeviceStatus, FirmwareVersion, Tag};
pub use ids::{ChannelId, CommandId, DeviceId, ParseIdError};
pub use number::Number;
pub use quantity::Quantity;
pub use reading::{Quality, Reading};
pub use route::{ClaimRoute, FirmwareRoute, Route, RouteFilter, RouteKind};
pub use rule::{Action, Expr, Op, Rule, RuleError, Scope};
pub use text::{CapacityError, Name, Text};
pub use time::Timestamp;
pub use transport::{Delivery, ErrorKind, ErrorType, LocalTransport, Transport, TransportError};
pub use unit::Unit;
pub use value::{Location, Value};

//! What a first program needs, in one `use telemetra::prelude::*;`.
//!
//! The model types, frames and messages, the frame helpers, and the transport traits (with
//! `std`, the `Send` traits a tokio server uses, and `Link`;
//! without, the local traits firmware implements), and with `alloc` the rule engine.

pub use crate::codec::{Frame, Message};
pub use crate::frames::{receive_frame, send_frame, send_frame_acked, try_receive_frame};
pub use crate::model::{
    Alert, AlertState, ChannelId, ChannelSpec, Command, CommandAck, CommandAction, CommandId, CommandResult,
    Device, DeviceId, DeviceStatus, Quality, Quantity, Reading, Route, RouteFilter, RouteKind, Severity,
    Timestamp, Unit, Value,
};
#[cfg(feature = "alloc")]
pub use crate::rules::{Engine, EngineConfig, Event};
#[cfg(not(feature = "std"))]
pub use crate::transport::local_prelude::*;
#[cfg(feature = "std")]
pub use crate::transport::prelude::*;
#[cfg(feature = "std")]
pub use crate::transports::link::{Link, Role};

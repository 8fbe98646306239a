//! MQTT building blocks, `no_std` and allocation-free. The sans-IO client and its async driver
//! (issue #4) build on these; today this module holds topic validation and matching, the wire
//! primitives (variable byte integers, fixed header, strings) with their malformation checks,
//! the session packets (CONNECT, CONNACK, DISCONNECT, PING, AUTH), the publish flow (PUBLISH, PUBACK,
//! PUBREC, PUBREL, PUBCOMP) and subscriptions (SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK), for
//! MQTT 3.1.1 and 5.0, and AUTH (5.0). Not yet: the client state machine and the driver.

pub mod client;
pub mod connect;
#[cfg(feature = "tokio")]
pub mod driver;
mod encode;
mod error;
mod properties;
pub mod publish;
pub mod reason;
pub mod subscribe;
pub mod topic;
#[cfg(feature = "tokio")]
pub mod transport;
pub mod wire;

pub use error::PacketError;
pub use properties::UserProperties;

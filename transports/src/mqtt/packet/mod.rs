//! The MQTT 3.1.1 and 5.0 packet layer, `no_std` and allocation-free: the wire primitives
//! (variable byte integers, fixed header, strings) with their malformation checks, the session
//! packets (CONNECT, CONNACK, DISCONNECT, PING, AUTH), the publish flow (PUBLISH, PUBACK,
//! PUBREC, PUBREL, PUBCOMP) and subscriptions (SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK).
//! Each packet is a value that encodes into the caller's buffer and decodes zero-copy from
//! untrusted bytes. Most applications never need this module: the client uses it.

pub mod connect;
mod encode;
mod error;
mod properties;
pub mod publish;
pub mod subscribe;
pub mod wire;

pub use error::PacketError;
pub use properties::UserProperties;

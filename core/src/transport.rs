//! The transport traits that MQTT, CoAP, serial and the in-process memory transport implement.
//!
//! A transport moves opaque payloads (encoded frames) along [`Route`]s. The methods are native
//! `async fn`s: no boxing and no allocator, so an embassy executor on a microcontroller can
//! drive the same trait a tokio server does. Errors expose a portable [`ErrorKind`] (the
//! embedded-hal pattern), so generic code can decide to retry, back off or give up without
//! knowing the transport. Swapping one transport for another changes one line of an app.

use crate::{Route, RouteFilter};

/// What went wrong, independent of the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Not connected yet, or the connection is down; try again after reconnecting.
    NotConnected,
    /// The connection dropped while the operation was under way.
    ConnectionLost,
    /// The peer did not answer in time.
    TimedOut,
    /// The caller's buffer is smaller than the message received; the message was dropped.
    BufferTooSmall,
    /// A bounded queue is full; the message was not taken.
    QueueFull,
    /// The transport was closed and will deliver nothing more.
    Closed,
    /// The peer refused the operation (authentication, authorization, quota).
    Refused,
    /// The peer broke the protocol.
    Protocol,
    /// Anything else.
    Other,
}

/// An error of a transport, with its portable kind.
pub trait TransportError: core::fmt::Debug + core::fmt::Display {
    /// The portable kind of this error.
    fn kind(&self) -> ErrorKind;
}

/// A message received: its route and the length of its payload in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Where it was sent.
    pub route: Route,
    /// How many bytes of the buffer hold its payload.
    pub len: usize,
}

/// A way to send and receive telemetra messages.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// The transport's error.
    type Error: TransportError;

    /// Asks to receive the messages whose routes pass `filter` (in addition to earlier ones).
    async fn subscribe(&mut self, filter: RouteFilter) -> Result<(), Self::Error>;

    /// Sends `payload` along `route`.
    async fn send(&mut self, route: Route, payload: &[u8]) -> Result<(), Self::Error>;

    /// Waits for the next message, copies its payload into `buf` and says where it came from.
    async fn receive(&mut self, buf: &mut [u8]) -> Result<Delivery, Self::Error>;
}

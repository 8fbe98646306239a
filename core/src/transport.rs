//! The transport contract that MQTT, CoAP, serial and the in-process memory transport implement.
//!
//! A transport moves opaque payloads (encoded frames) along [`Route`]s. It is built like
//! embedded-io: an [`ErrorType`] whose error has a portable [`ErrorKind`] (so generic code can
//! retry, back off or give up without knowing the transport), a sending half, a receiving half,
//! and a whole that does both and can be split into the halves.
//!
//! Each part comes twice, in the pattern the Rust project recommends for `async fn` in traits:
//!
//! | local (any future) | `Send` futures | what it does |
//! |---|---|---|
//! | [`LocalSender`] | [`Sender`] | `send`, `send_acked`, `close` |
//! | [`LocalReceiver`] | [`Receiver`] | `subscribe`, `receive`, `try_receive` |
//! | [`LocalTransport`] | [`Transport`] | both, and `split` into the two halves |
//!
//! Firmware implements the local traits with native `async fn` (no boxing, no allocator, and
//! embassy's `!Send` sockets are fine). A std transport implements the `Send` traits, whose
//! futures a server can hand to `tokio::spawn`; every `Send` implementation is a local one too
//! (blanket impls), so generic code written against `LocalTransport` takes either.
//!
//! # Semantics
//!
//! - `send` hands a message to the transport and returns when it is queued or written; it
//!   may be lost later (a QoS 0 publish, a NON CoAP message).
//! - `send_acked` returns when the transport's peer confirmed it: an MQTT PUBACK or PUBCOMP,
//!   a CoAP ACK or piggy-backed response, a serial link acknowledgement, a memory hub's queues.
//!   A command that must reach a device uses it. A peer's *reply* to a message (the device's
//!   command acknowledgement, a CoAP response body) is a message of its own and arrives
//!   through `receive` on its route (`acks` for commands).
//! - `receive` waits for the next message and copies its payload into the caller's buffer;
//!   `try_receive` does the same without waiting (`Ok(None)` when nothing is there). A
//!   message larger than the buffer is dropped with [`ErrorKind::BufferTooSmall`] and the
//!   next call goes on with the next one.
//! - `close` sends what is still queued, waits for the acknowledgements it can still get, and
//!   ends the session (an MQTT DISCONNECT, a CoAP exchange drain, a serial link close).
//!
//! # How each transport maps onto it
//!
//! **MQTT** (`mqtt://`, `mqtts://`): a route is the topic `tm/v1/{device}/{kind}`;
//! `subscribe` makes an MQTT subscription on the route filter's topic filter; `send` publishes
//! at QoS 1 and returns once queued; `send_acked` waits for the PUBACK; `receive` takes the
//! next PUBLISH on a topic of the scheme (others are counted and dropped). The client is one
//! connection shared by both halves, so `split` clones a handle.
//!
//! **CoAP** (`coap://` over UDP, `coap+tcp://` and `coaps+tcp://` over TCP and TLS): a route
//! is the resource `/tm/v1/{device}/{kind}`; the server is the CoAP server and a device its
//! client. A device's `send` queues a confirmable POST in an outbox that retries it until the
//! server answers (over UDP, retransmitted as one exchange for as long as the server
//! deduplicates it); `send_acked` returns on the server's 2.04. `subscribe` registers an
//! observation (RFC 7641) of the route's resource (a device observes `/tm/v1/{id}/commands`)
//! and keeps it registered; every notification is a message for `receive`. On a server, each
//! POST to a route it subscribed to is a message for `receive`, answered 2.04 once it is taken;
//! its `send` notifies the route's observers, and `send_acked` returns when the device
//! acknowledged the confirmable notification (over TCP, which has no CoAP ACK: on the Pong to a
//! Ping with Custody sent after it).
//! OSCORE (RFC 8613) protects all of it end to end when both sides are configured with it.
//!
//! **Serial** (`serial:///dev/ttyUSB0?baud=115200`), a sketch: a point-to-point link has no
//! addresses, so a message's route travels with it: the frame names its device and its
//! message kind names its route, so the link layer carries the encoded frame alone and the
//! receiver derives the route from the frame. `subscribe` filters locally (everything is
//! received; what no filter matches is counted and dropped); `send` queues a link packet,
//! `send_acked` waits for the link's cumulative acknowledgement; `split` separates the
//! UART's transmit and receive sides.
//!
//! **Memory** (`memory://name`): every endpoint of a hub with a matching subscription gets a
//! copy; `send_acked` returns once the copies are queued.
//!
//! ```
//! use telemetra_core::transport::LocalTransport;
//! use telemetra_core::{Route, RouteFilter, RouteKind, DeviceId};
//!
//! /// Echoes every reading of device 7 back on its alerts route: works on any transport.
//! async fn echo<T: LocalTransport>(t: &mut T) -> Result<(), T::Error> {
//!     t.subscribe(RouteFilter::exact(Route::new(RouteKind::Readings, DeviceId(7)))).await?;
//!     let mut buf = [0u8; 128];
//!     let got = t.receive(&mut buf).await?;
//!     t.send(Route::new(RouteKind::Alerts, got.route.device), &buf[..got.len]).await
//! }
//! ```

use core::future::Future;

use crate::{Route, RouteFilter};

/// The traits to call transport methods on concrete types: `use
/// telemetra_core::transport::prelude::*;` (servers, `Send` futures).
pub mod prelude {
    pub use super::{ErrorType, Receiver as _, Sender as _, Transport, TransportError as _};
}

/// The same for firmware, with the local traits.
pub mod local_prelude {
    pub use super::{ErrorType, LocalReceiver as _, LocalSender as _, LocalTransport, TransportError as _};
}

/// What went wrong, independent of the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
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
    /// The address or configuration is not usable (a bad URL, a scheme not built in).
    Config,
    /// Anything else.
    Other,
}

/// An error of a transport, with its portable kind.
pub trait TransportError: core::fmt::Debug + core::fmt::Display {
    /// The portable kind of this error.
    fn kind(&self) -> ErrorKind;
}

impl TransportError for core::convert::Infallible {
    fn kind(&self) -> ErrorKind {
        match *self {}
    }
}

/// A message received: its route and the length of its payload in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Delivery {
    /// Where it was sent.
    pub route: Route,
    /// How many bytes of the buffer hold its payload.
    pub len: usize,
}

/// The error type shared by a transport and its halves.
pub trait ErrorType {
    /// The transport's error.
    type Error: TransportError;
}

/// The sending half of a transport, with futures of any kind (firmware).
#[allow(async_fn_in_trait)]
pub trait LocalSender: ErrorType {
    /// Sends `payload` along `route`; returns when the transport has taken it.
    async fn send(&mut self, route: Route, payload: &[u8]) -> Result<(), Self::Error>;

    /// Sends `payload` along `route`; returns when the transport's peer confirmed it.
    async fn send_acked(&mut self, route: Route, payload: &[u8]) -> Result<(), Self::Error>;

    /// Sends what is queued, waits for outstanding acknowledgements, and ends the session.
    async fn close(&mut self) -> Result<(), Self::Error>;
}

/// The receiving half of a transport, with futures of any kind (firmware).
#[allow(async_fn_in_trait)]
pub trait LocalReceiver: ErrorType {
    /// Asks to receive the messages whose routes pass `filter` (in addition to earlier ones).
    async fn subscribe(&mut self, filter: RouteFilter) -> Result<(), Self::Error>;

    /// Waits for the next message, copies its payload into `buf` and says where it came from.
    async fn receive(&mut self, buf: &mut [u8]) -> Result<Delivery, Self::Error>;

    /// The next message if one is waiting, without waiting: `Ok(None)` when none is.
    fn try_receive(&mut self, buf: &mut [u8]) -> Result<Option<Delivery>, Self::Error>;
}

/// A whole transport, with futures of any kind (firmware): both halves, and a way to split
/// them so that one task sends while another receives.
pub trait LocalTransport: LocalSender + LocalReceiver {
    /// The sending half.
    type Sender: LocalSender<Error = Self::Error>;
    /// The receiving half.
    type Receiver: LocalReceiver<Error = Self::Error>;

    /// Splits the transport into a sending and a receiving half.
    fn split(self) -> (Self::Sender, Self::Receiver);
}

/// The sending half of a transport whose futures are `Send` (servers on tokio).
pub trait Sender: ErrorType<Error: Send> + Send {
    /// See [`LocalSender::send`].
    fn send(&mut self, route: Route, payload: &[u8]) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// See [`LocalSender::send_acked`].
    fn send_acked(
        &mut self,
        route: Route,
        payload: &[u8],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// See [`LocalSender::close`].
    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// The receiving half of a transport whose futures are `Send` (servers on tokio).
pub trait Receiver: ErrorType<Error: Send> + Send {
    /// See [`LocalReceiver::subscribe`].
    fn subscribe(&mut self, filter: RouteFilter) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// See [`LocalReceiver::receive`].
    fn receive(&mut self, buf: &mut [u8]) -> impl Future<Output = Result<Delivery, Self::Error>> + Send;

    /// See [`LocalReceiver::try_receive`].
    fn try_receive(&mut self, buf: &mut [u8]) -> Result<Option<Delivery>, Self::Error>;
}

/// A whole transport whose futures are `Send`: what a server spawns on tokio.
pub trait Transport: Sender + Receiver {
    /// The sending half.
    type Sender: Sender<Error = Self::Error> + 'static;
    /// The receiving half.
    type Receiver: Receiver<Error = Self::Error> + 'static;

    /// Splits the transport into a sending and a receiving half.
    fn split(self) -> (<Self as Transport>::Sender, <Self as Transport>::Receiver);
}

impl<T: Sender + ?Sized> LocalSender for T {
    async fn send(&mut self, route: Route, payload: &[u8]) -> Result<(), Self::Error> {
        Sender::send(self, route, payload).await
    }

    async fn send_acked(&mut self, route: Route, payload: &[u8]) -> Result<(), Self::Error> {
        Sender::send_acked(self, route, payload).await
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        Sender::close(self).await
    }
}

impl<T: Receiver + ?Sized> LocalReceiver for T {
    async fn subscribe(&mut self, filter: RouteFilter) -> Result<(), Self::Error> {
        Receiver::subscribe(self, filter).await
    }

    async fn receive(&mut self, buf: &mut [u8]) -> Result<Delivery, Self::Error> {
        Receiver::receive(self, buf).await
    }

    fn try_receive(&mut self, buf: &mut [u8]) -> Result<Option<Delivery>, Self::Error> {
        Receiver::try_receive(self, buf)
    }
}

impl<T: Transport> LocalTransport for T {
    type Sender = <T as Transport>::Sender;
    type Receiver = <T as Transport>::Receiver;

    fn split(self) -> (<T as Transport>::Sender, <T as Transport>::Receiver) {
        Transport::split(self)
    }
}

//! One transport chosen by URL at run time: `memory://name` (in-process), `mqtt://host:port`,
//! `mqtts://host:port`, `coap://host:port` (the server role binds it, devices send to it), or
//! any scheme an application registers for a transport of its own.
//! An app writes its logic against [`Transport`] and switches networks by changing the URL.
//!
//! ```
//! use telemetra_core::transport::{Receiver as _, Sender as _};
//! use telemetra_core::{DeviceId, Route, RouteFilter, RouteKind};
//! use telemetra_transports::link::{Link, Role};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let url = "memory://docs"; // or "mqtt://127.0.0.1:1883", "mqtts://broker.example.com"
//! let mut server = Link::open(url, Role::Server("collector")).await.unwrap();
//! let mut device = Link::open(url, Role::Device(DeviceId(7))).await.unwrap();
//! server.subscribe(RouteFilter::kind(RouteKind::Readings)).await.unwrap();
//! device.send(Route::new(RouteKind::Readings, DeviceId(7)), b"frame").await.unwrap();
//! let mut buf = [0u8; 64];
//! assert_eq!(server.receive(&mut buf).await.unwrap().len, 5);
//! # });
//! ```
//!
//! A [`Link`] holds its transport as a trait object ([`DynTransport`], made object-safe with
//! `async-trait`: one boxed future per call, which a network round trip dwarfs). The contract
//! in `telemetra-core` stays native `async fn` for firmware; any [`Transport`] whose error is a
//! `std::error::Error` becomes a `DynTransport` by a blanket impl, so plugging in a transport
//! of your own is [`Registry::register`] with a function that opens it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use telemetra_core::transport::{Receiver, Sender};
use telemetra_core::{Delivery, DeviceId, ErrorKind, Route, RouteFilter, Transport, TransportError};

use crate::memory::MemoryHub;

/// Who is connecting: it picks the MQTT client id, and for a device its status route and
/// last will.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role<'a> {
    /// A device (client id `tm-{id}`, status and will on `tm/v1/{id}/status`).
    Device(DeviceId),
    /// A server or other consumer, with this client id (on CoAP: the server, which binds the URL).
    Server(&'a str),
}

/// Capacity of each endpoint's queue on a `memory://` hub.
const MEMORY_CAPACITY: usize = 4096;

/// An error of a [`Link`]: the portable kind and the transport's own error behind it.
#[derive(Debug, Clone)]
pub struct LinkError {
    kind: ErrorKind,
    source: Arc<dyn std::error::Error + Send + Sync>,
}

impl LinkError {
    /// Wraps a transport's error.
    pub fn new<E: TransportError + std::error::Error + Send + Sync + 'static>(error: E) -> Self {
        LinkError { kind: error.kind(), source: Arc::new(error) }
    }

    /// The transport's own error, to downcast (`MemoryError`, `MqttError`, yours).
    pub fn get_ref(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.source
    }
}

/// No transport is registered for a URL's scheme.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported transport URL {url:?} (known schemes: {known})")]
pub struct UnsupportedUrl {
    /// The URL.
    pub url: String,
    /// The schemes the registry knows, comma-separated.
    pub known: String,
}

impl TransportError for UnsupportedUrl {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Config
    }
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

impl std::error::Error for LinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

impl TransportError for LinkError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

/// The sending half of any transport, object-safe.
#[async_trait]
pub trait DynSender: Send + fmt::Debug {
    /// See [`Sender::send`].
    async fn send(&mut self, route: Route, payload: &[u8]) -> Result<(), LinkError>;
    /// See [`Sender::send_acked`].
    async fn send_acked(&mut self, route: Route, payload: &[u8]) -> Result<(), LinkError>;
    /// See [`Sender::close`].
    async fn close(&mut self) -> Result<(), LinkError>;
}

/// The receiving half of any transport, object-safe.
#[async_trait]
pub trait DynReceiver: Send + fmt::Debug {
    /// See [`Receiver::subscribe`].
    async fn subscribe(&mut self, filter: RouteFilter) -> Result<(), LinkError>;
    /// See [`Receiver::receive`].
    async fn receive(&mut self, buf: &mut [u8]) -> Result<Delivery, LinkError>;
    /// See [`Receiver::try_receive`].
    fn try_receive(&mut self, buf: &mut [u8]) -> Result<Option<Delivery>, LinkError>;
}

/// Any transport, object-safe: what a [`Link`] holds.
pub trait DynTransport: DynSender + DynReceiver {
    /// See [`Transport::split`].
    fn split_boxed(self: Box<Self>) -> (Box<dyn DynSender>, Box<dyn DynReceiver>);
}

#[async_trait]
impl<T> DynSender for T
where
    T: Sender + fmt::Debug,
    T::Error: std::error::Error + Send + Sync + 'static,
{
    async fn send(&mut self, route: Route, payload: &[u8]) -> Result<(), LinkError> {
        Sender::send(self, route, payload).await.map_err(LinkError::new)
    }

    async fn send_acked(&mut self, route: Route, payload: &[u8]) -> Result<(), LinkError> {
        Sender::send_acked(self, route, payload).await.map_err(LinkError::new)
    }

    async fn close(&mut self) -> Result<(), LinkError> {
        Sender::close(self).await.map_err(LinkError::new)
    }
}

#[async_trait]
impl<T> DynReceiver for T
where
    T: Receiver + fmt::Debug,
    T::Error: std::error::Error + Send + Sync + 'static,
{
    async fn subscribe(&mut self, filter: RouteFilter) -> Result<(), LinkError> {
        Receiver::subscribe(self, filter).await.map_err(LinkError::new)
    }

    async fn receive(&mut self, buf: &mut [u8]) -> Result<Delivery, LinkError> {
        Receiver::receive(self, buf).await.map_err(LinkError::new)
    }

    fn try_receive(&mut self, buf: &mut [u8]) -> Result<Option<Delivery>, LinkError> {
        Receiver::try_receive(self, buf).map_err(LinkError::new)
    }
}

impl<T> DynTransport for T
where
    T: Transport + fmt::Debug,
    T::Error: std::error::Error + Send + Sync + 'static,
    <T as Transport>::Sender: fmt::Debug,
    <T as Transport>::Receiver: fmt::Debug,
{
    fn split_boxed(self: Box<Self>) -> (Box<dyn DynSender>, Box<dyn DynReceiver>) {
        let (tx, rx) = Transport::split(*self);
        (Box::new(tx), Box::new(rx))
    }
}

/// A transport chosen at run time; implements [`Transport`].
#[derive(Debug)]
pub struct Link(Box<dyn DynTransport>);

/// The sending half of a [`Link`].
#[derive(Debug)]
pub struct LinkSender(Box<dyn DynSender>);

/// The receiving half of a [`Link`].
#[derive(Debug)]
pub struct LinkReceiver(Box<dyn DynReceiver>);

impl Link {
    /// Opens the transport `url` names with the built-in schemes ([`Registry::default`]).
    /// MQTT connects in the background: messages sent meanwhile wait in its offline queue.
    pub async fn open(url: &str, role: Role<'_>) -> Result<Link, LinkError> {
        Registry::default().open(url, role).await
    }

    /// A link over a transport you already have.
    pub fn new<T>(transport: T) -> Link
    where
        T: DynTransport + 'static,
    {
        Link(Box::new(transport))
    }
}

crate::forward::error_type!(LinkError: Link, LinkSender, LinkReceiver);

crate::forward::forward_sender!(Link, DynSender, |l| &mut *l.0);
crate::forward::forward_sender!(LinkSender, DynSender, |l| &mut *l.0);
crate::forward::forward_receiver!(Link, DynReceiver, |l| &mut *l.0);
crate::forward::forward_receiver!(LinkReceiver, DynReceiver, |l| &mut *l.0);

impl Transport for Link {
    type Sender = LinkSender;
    type Receiver = LinkReceiver;

    fn split(self) -> (LinkSender, LinkReceiver) {
        let (tx, rx) = self.0.split_boxed();
        (LinkSender(tx), LinkReceiver(rx))
    }
}

/// What an opener returns: the opened link, later.
pub type Opening = Pin<Box<dyn Future<Output = Result<Link, LinkError>> + Send>>;

type Opener = Arc<dyn Fn(&str, Role<'_>) -> Opening + Send + Sync>;

/// URL schemes and the functions that open their transports.
///
/// ```
/// use telemetra_transports::link::{Link, Registry, Role};
/// use telemetra_transports::memory::MemoryHub;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let hub = MemoryHub::new(16);
/// let mut registry = Registry::default();
/// // A scheme of your own: here, one more in-process hub.
/// registry.register("lab", move |_url, _role| {
///     let t = hub.connect();
///     Box::pin(async move { Ok(Link::new(t)) })
/// });
/// let link = registry.open("lab://bench-3", Role::Server("x")).await.unwrap();
/// # drop(link);
/// # });
/// ```
#[derive(Clone)]
pub struct Registry {
    schemes: Vec<(String, Opener)>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.schemes.iter().map(|(s, _)| s)).finish()
    }
}

impl Default for Registry {
    /// `memory://`, and with the `tokio` feature `mqtt://`, `mqtts://`, `coap://`,
    /// `coap+tcp://` and `coaps+tcp://` (a server binds the address, a device connects to it;
    /// a `coaps+tcp://` server needs its certificate, so it is opened through
    /// `CoapServer::bind` with a `ServerConfig`, not by URL alone); with `serial-port`,
    /// `serial:///dev/ttyUSB0?baud=115200` (point to point: both ends open their port).
    fn default() -> Self {
        let mut r = Registry { schemes: Vec::new() };
        r.register("memory", |url, _role| {
            let name = url.strip_prefix("memory://").unwrap_or_default();
            let t = MemoryHub::named(name, MEMORY_CAPACITY).connect();
            Box::pin(async move { Ok(Link::new(t)) })
        });
        #[cfg(feature = "tokio")]
        for scheme in ["mqtt", "mqtts"] {
            r.register(scheme, |url, role| {
                use crate::mqtt::transport::MqttTransport;
                let t = match role {
                    Role::Device(id) => MqttTransport::device(url, id, |_| {}),
                    Role::Server(name) => {
                        MqttTransport::new(url, crate::mqtt::client::Options::new(name), |_| {})
                    }
                };
                let link = t.map(Link::new).map_err(LinkError::new);
                Box::pin(async move { link })
            });
        }
        #[cfg(all(feature = "tokio", feature = "coap"))]
        for scheme in ["coap", "coap+tcp", "coaps+tcp"] {
            r.register(scheme, |url, role| {
                use crate::coap::driver::transport::{CoapDevice, CoapServer, DeviceConfig, ServerConfig};
                let url = url.to_string();
                let role = match role {
                    Role::Device(id) => Some(id),
                    Role::Server(_) => None,
                };
                Box::pin(async move {
                    match role {
                        Some(id) => {
                            CoapDevice::connect(&url, id, DeviceConfig::default()).await.map(Link::new)
                        }
                        None => CoapServer::bind(&url, ServerConfig::default()).await.map(Link::new),
                    }
                    .map_err(LinkError::new)
                })
            });
        }
        #[cfg(all(feature = "serial-port", unix))]
        r.register("serial", |url, _role| {
            use crate::serial::driver::{SerialConfig, SerialLink};
            let url = url.to_string();
            // Point to point: a device and a gateway open their ends the same way.
            Box::pin(async move {
                SerialLink::open(&url, SerialConfig::default()).await.map(Link::new).map_err(LinkError::new)
            })
        });
        r
    }
}

impl Registry {
    /// Registers (or replaces) the opener of URLs `scheme://...`.
    pub fn register<F>(&mut self, scheme: &str, open: F)
    where
        F: Fn(&str, Role<'_>) -> Opening + Send + Sync + 'static,
    {
        self.schemes.retain(|(s, _)| s != scheme);
        self.schemes.push((scheme.to_string(), Arc::new(open)));
    }

    /// The registered schemes.
    pub fn schemes(&self) -> impl Iterator<Item = &str> {
        self.schemes.iter().map(|(s, _)| s.as_str())
    }

    /// Opens the transport `url` names.
    pub async fn open(&self, url: &str, role: Role<'_>) -> Result<Link, LinkError> {
        let scheme = url.split_once("://").map(|(s, _)| s);
        match self.schemes.iter().find(|(s, _)| Some(s.as_str()) == scheme) {
            Some((_, open)) => {
                let link = open(url, role).await;
                // The scheme only: a URL of someone's own scheme may carry a secret.
                match &link {
                    Ok(_) => tracing::info!(scheme, "transport opened"),
                    Err(e) => tracing::warn!(scheme, error = %e, "transport could not be opened"),
                }
                link
            }
            None => Err(LinkError::new(UnsupportedUrl {
                url: url.to_string(),
                known: self.schemes().map(|s| format!("{s}://")).collect::<Vec<_>>().join(", "),
            })),
        }
    }
}

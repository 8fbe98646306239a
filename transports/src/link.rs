//! One transport chosen by URL: `memory://name` (in-process), `mqtt://host:port` or
//! `mqtts://host:port`. An app writes its logic against [`Link`] (or any [`Transport`]) and
//! switches networks by changing the URL.
//!
//! ```
//! use telemetra_core::{DeviceId, Route, RouteFilter, RouteKind, Transport};
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

use telemetra_core::{Delivery, DeviceId, ErrorKind, Route, RouteFilter, Transport, TransportError};

use crate::memory::{MemoryError, MemoryHub, MemoryTransport};
#[cfg(feature = "tokio")]
use crate::mqtt::transport::{MqttError, MqttTransport};

/// Who is connecting: it picks the MQTT client id, and for a device the status topic and
/// last will.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role<'a> {
    /// A device (client id `tm-{id}`, status and will on `tm/v1/{id}/status`).
    Device(DeviceId),
    /// A server or other consumer, with this client id.
    Server(&'a str),
}

/// Capacity of each endpoint's queue on a `memory://` hub.
const MEMORY_CAPACITY: usize = 4096;

/// A transport chosen at run time.
#[derive(Debug)]
#[non_exhaustive]
pub enum Link {
    /// In-process (`memory://name`).
    Memory(MemoryTransport),
    /// MQTT (`mqtt://`, `mqtts://`).
    #[cfg(feature = "tokio")]
    Mqtt(MqttTransport),
}

/// An error of a [`Link`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// A URL of no known scheme (or of a scheme this build leaves out).
    #[error("unsupported transport URL {0:?} (memory://, mqtt:// and mqtts:// are known)")]
    UnsupportedUrl(String),
    /// The memory transport's error.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// The MQTT transport's error.
    #[cfg(feature = "tokio")]
    #[error(transparent)]
    Mqtt(#[from] MqttError),
}

impl TransportError for LinkError {
    fn kind(&self) -> ErrorKind {
        match self {
            LinkError::UnsupportedUrl(_) => ErrorKind::Other,
            LinkError::Memory(e) => e.kind(),
            #[cfg(feature = "tokio")]
            LinkError::Mqtt(e) => e.kind(),
        }
    }
}

impl Link {
    /// Opens the transport `url` names. MQTT connects in the background (messages sent
    /// meanwhile wait in the offline queue); use [`Link::connected`] to wait for it.
    pub async fn open(url: &str, role: Role<'_>) -> Result<Link, LinkError> {
        if let Some(name) = url.strip_prefix("memory://") {
            return Ok(Link::Memory(MemoryHub::named(name, MEMORY_CAPACITY).connect()));
        }
        #[cfg(feature = "tokio")]
        if url.starts_with("mqtt://") || url.starts_with("mqtts://") {
            let t = match role {
                Role::Device(id) => MqttTransport::device(url, id, |_| {})?,
                Role::Server(name) => {
                    MqttTransport::new(url, crate::mqtt::client::Options::new(name), |_| {})?
                }
            };
            return Ok(Link::Mqtt(t));
        }
        let _ = role;
        Err(LinkError::UnsupportedUrl(url.to_string()))
    }

    /// Waits until the link can carry messages (at once for memory; CONNACK for MQTT).
    pub async fn connected(&self) {
        match self {
            Link::Memory(_) => {}
            #[cfg(feature = "tokio")]
            Link::Mqtt(t) => t.client().connected().await,
        }
    }

    /// The next message, if one is waiting, without waiting.
    pub fn try_receive(&mut self, buf: &mut [u8]) -> Option<Result<Delivery, LinkError>> {
        match self {
            Link::Memory(t) => t.try_receive(buf).map(|r| r.map_err(Into::into)),
            #[cfg(feature = "tokio")]
            Link::Mqtt(t) => t.try_receive(buf).map(|r| r.map_err(Into::into)),
        }
    }

    /// Sends everything still queued or unacknowledged, then closes (MQTT); nothing to do
    /// for memory.
    pub async fn close(&self) {
        match self {
            Link::Memory(_) => {}
            #[cfg(feature = "tokio")]
            Link::Mqtt(t) => t.close().await,
        }
    }
}

impl Transport for Link {
    type Error = LinkError;

    async fn subscribe(&mut self, filter: RouteFilter) -> Result<(), LinkError> {
        match self {
            Link::Memory(t) => Ok(t.subscribe(filter).await?),
            #[cfg(feature = "tokio")]
            Link::Mqtt(t) => Ok(t.subscribe(filter).await?),
        }
    }

    async fn send(&mut self, route: Route, payload: &[u8]) -> Result<(), LinkError> {
        match self {
            Link::Memory(t) => Ok(t.send(route, payload).await?),
            #[cfg(feature = "tokio")]
            Link::Mqtt(t) => Ok(t.send(route, payload).await?),
        }
    }

    async fn receive(&mut self, buf: &mut [u8]) -> Result<Delivery, LinkError> {
        match self {
            Link::Memory(t) => Ok(t.receive(buf).await?),
            #[cfg(feature = "tokio")]
            Link::Mqtt(t) => Ok(t.receive(buf).await?),
        }
    }
}

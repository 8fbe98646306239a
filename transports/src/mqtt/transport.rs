//! telemetra on MQTT: the [`Transport`] trait over an [`MqttClient`], using the one topic
//! scheme of [`telemetra_core::route`] (`tm/v1/{device}/{kind}`).
//!
//! | kind | QoS | retained | payload |
//! |---|---|---|---|
//! | `readings`, `alerts`, `commands`, `acks`, `rules` | 1 | no | a codec frame |
//! | `info` | 1 | yes | a codec frame (the device descriptor) |
//! | `status` | 1 | yes | UTF-8 `online` or `offline`; the last will sets `offline` |
//!
//! QoS 1 everywhere: nothing is lost across reconnects, and the frames' sequence numbers let a
//! receiver drop the rare duplicate. A device's client id is `tm-{device}`; its will marks it
//! offline when it vanishes, and it marks itself online on every connect.

use telemetra_core::{
    Delivery, DeviceId, ErrorKind, Route, RouteFilter, RouteKind, Transport, TransportError,
};

use super::client::{Message, Options, Received, RejectReason};
use super::driver::{Config, ConfigError, MqttClient, SubscribeError};
use super::publish::QoS;

/// The payload of a device's status topic while it is connected.
pub const ONLINE: &[u8] = b"online";
/// The payload of a device's status topic after it vanished (its last will) or left.
pub const OFFLINE: &[u8] = b"offline";

/// An error of the MQTT transport.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MqttError {
    /// The configuration cannot work (a bad URL, plaintext off loopback, TLS files).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The broker refused a subscription.
    #[error(transparent)]
    Subscribe(#[from] SubscribeError),
    /// The offline queue is full; the message was not taken.
    #[error("the offline queue is full")]
    QueueFull,
    /// The client was closed.
    #[error("the MQTT client is closed")]
    Closed,
    /// The received message does not fit the buffer; it was dropped.
    #[error("message of {needed} bytes does not fit the {available}-byte buffer; it was dropped")]
    BufferTooSmall {
        /// The message's size.
        needed: usize,
        /// The buffer's size.
        available: usize,
    },
}

impl TransportError for MqttError {
    fn kind(&self) -> ErrorKind {
        match self {
            MqttError::Config(_) => ErrorKind::Other,
            MqttError::Subscribe(SubscribeError::Refused(_)) => ErrorKind::Refused,
            MqttError::Subscribe(SubscribeError::Closed) | MqttError::Closed => ErrorKind::Closed,
            MqttError::Subscribe(_) => ErrorKind::Other,
            MqttError::QueueFull => ErrorKind::QueueFull,
            MqttError::BufferTooSmall { .. } => ErrorKind::BufferTooSmall,
        }
    }
}

/// The QoS and retain flag of a route's messages.
pub fn delivery_for(kind: RouteKind) -> (QoS, bool) {
    (QoS::AtLeastOnce, matches!(kind, RouteKind::Info | RouteKind::Status))
}

/// A [`Transport`] over MQTT.
#[derive(Debug, Clone)]
pub struct MqttTransport {
    client: MqttClient,
    /// A device's status topic.
    status: Option<String>,
    /// Messages on topics outside the scheme, dropped.
    foreign: u64,
}

impl MqttTransport {
    /// A device's transport: client id `tm-{device}`, a last will that sets its status topic
    /// to `offline` (retained), and `online` published on every connect.
    pub fn device(url: &str, device: DeviceId, edit: impl FnOnce(&mut Config)) -> Result<Self, MqttError> {
        let status = Route::new(RouteKind::Status, device).topic();
        let mut o = Options::new(format!("tm-{device}"));
        let mark = |payload| Message::new(status.as_str(), payload).with_qos(QoS::AtLeastOnce).retained();
        o.will = Some(mark(OFFLINE));
        o.birth = Some(mark(ONLINE));
        let mut config = Config::new(url, o)?;
        edit(&mut config);
        let client = MqttClient::start(config)?;
        Ok(MqttTransport { client, status: Some(status.as_str().to_string()), foreign: 0 })
    }

    /// A server's (or any other) transport with the given client options.
    pub fn new(url: &str, options: Options, edit: impl FnOnce(&mut Config)) -> Result<Self, MqttError> {
        let mut config = Config::new(url, options)?;
        edit(&mut config);
        Ok(MqttTransport { client: MqttClient::start(config)?, status: None, foreign: 0 })
    }

    /// The client underneath (events, statistics, flush, disconnect).
    pub fn client(&self) -> &MqttClient {
        &self.client
    }

    /// Messages received on topics outside the scheme, dropped.
    pub fn foreign(&self) -> u64 {
        self.foreign
    }

    fn deliver(&mut self, m: Received, buf: &mut [u8]) -> Option<Result<Delivery, MqttError>> {
        let Some(route) = Route::parse_topic(&m.topic) else {
            self.foreign += 1;
            return None;
        };
        Some(
            crate::delivery::copy_out(route, &m.payload, buf)
                .map_err(|t| MqttError::BufferTooSmall { needed: t.needed, available: t.available }),
        )
    }

    /// The next message, if one is waiting, without waiting.
    pub fn try_receive(&mut self, buf: &mut [u8]) -> Option<Result<Delivery, MqttError>> {
        while let Some(m) = self.client.try_recv() {
            if let Some(d) = self.deliver(m, buf) {
                return Some(d);
            }
        }
        None
    }

    /// Ends the session gracefully (see [`MqttClient::disconnect`]); a device first marks
    /// itself offline (a clean DISCONNECT does not fire the will).
    pub async fn close(&self) {
        if let Some(topic) = &self.status {
            let offline = Message::new(topic.as_str(), OFFLINE).with_qos(QoS::AtLeastOnce).retained();
            let _ = self.client.try_publish(offline);
        }
        self.client.disconnect().await;
    }
}

impl Transport for MqttTransport {
    type Error = MqttError;

    async fn subscribe(&mut self, filter: RouteFilter) -> Result<(), MqttError> {
        self.client.subscribe(filter.topic_filter().as_str(), QoS::AtLeastOnce).await?;
        Ok(())
    }

    async fn send(&mut self, route: Route, payload: &[u8]) -> Result<(), MqttError> {
        let (qos, retain) = delivery_for(route.kind);
        let mut m = Message::new(route.topic().as_str(), payload).with_qos(qos);
        m.retain = retain;
        match self.client.publish(m).await {
            Ok(_) => Ok(()),
            Err(r) if r.reason == RejectReason::QueueFull => Err(MqttError::QueueFull),
            Err(_) => Err(MqttError::Closed),
        }
    }

    async fn receive(&mut self, buf: &mut [u8]) -> Result<Delivery, MqttError> {
        loop {
            let m = self.client.recv().await.ok_or(MqttError::Closed)?;
            if let Some(d) = self.deliver(m, buf) {
                return d;
            }
        }
    }
}

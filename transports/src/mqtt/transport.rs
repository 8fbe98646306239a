//! telemetra on MQTT: the [`Transport`] contract over an [`MqttClient`], using the one route
//! scheme of [`telemetra_core::route`] (`tm/v1/{device}/{kind}`).
//!
//! | kind | QoS | retained | payload |
//! |---|---|---|---|
//! | `readings`, `alerts`, `commands`, `acks`, `rules` | 1 | no | a codec frame |
//! | `info`, `status` ([`RouteKind::is_retained`]) | 1 | yes | a codec frame |
//!
//! QoS 1 everywhere: nothing is lost across reconnects, and the frames' sequence numbers let a
//! receiver drop the rare duplicate. A device's client id is `tm-{device}`. Its status is a
//! frame like every other message: `Status(Online)` is its birth message, sent first on every
//! connection; `Status(Lost)` its last will, which the broker publishes when it vanishes; and
//! `Status(Offline)` what [`close`](telemetra_core::transport::Sender::close) sends before a
//! clean DISCONNECT (which does not fire the will). Status frames carry sequence number 0:
//! they are fixed when the connection is configured, outside the device's sequence.
//!
//! `send` returns once the message is queued (the offline queue holds it while the broker is
//! away); `send_acked` waits for the broker's PUBACK. [`split`](Transport::split) gives two
//! handles to the one connection.

use telemetra_core::transport::{Receiver, Sender};
use telemetra_core::{
    Delivery, DeviceId, DeviceStatus, ErrorKind, Route, RouteFilter, RouteKind, Transport, TransportError,
};

use super::client::{Message, Options, Outcome, Received, RejectReason, Rejected};
use super::driver::{Config, ConfigError, MqttClient, SubscribeError};
use super::packet::publish::QoS;
use super::reason::ReasonCode;

pub use crate::delivery::status_frame;

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
    /// The broker refused the message (an ACL, a quota, a payload too large).
    #[error("the broker refused the message: {0}")]
    Refused(ReasonCode),
    /// The message expired in the offline queue before the broker could take it.
    #[error("the message expired before it could be sent")]
    Expired,
    /// The message was dropped from the full offline queue to make room for a newer one.
    #[error("the message was dropped from the full offline queue")]
    Dropped,
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
            MqttError::Config(_) => ErrorKind::Config,
            MqttError::Subscribe(SubscribeError::Refused(_)) | MqttError::Refused(_) => ErrorKind::Refused,
            MqttError::Expired => ErrorKind::TimedOut,
            MqttError::Dropped => ErrorKind::QueueFull,
            MqttError::Subscribe(SubscribeError::Closed) | MqttError::Closed => ErrorKind::Closed,
            MqttError::Subscribe(_) => ErrorKind::Other,
            MqttError::QueueFull => ErrorKind::QueueFull,
            MqttError::BufferTooSmall { .. } => ErrorKind::BufferTooSmall,
        }
    }
}

/// The MQTT message for a payload on a route: QoS 1, retained on retained routes.
fn message_for(route: Route, payload: &[u8]) -> Message {
    let mut m = Message::new(route.topic().as_str(), payload).with_qos(QoS::AtLeastOnce);
    m.retain = route.kind.is_retained();
    m
}

fn rejected(r: &Rejected) -> MqttError {
    match r.reason {
        RejectReason::QueueFull => MqttError::QueueFull,
        _ => MqttError::Closed,
    }
}

/// A [`Transport`] over MQTT.
#[derive(Debug, Clone)]
pub struct MqttTransport {
    tx: MqttSender,
    rx: MqttReceiver,
}

/// The sending half of an [`MqttTransport`].
#[derive(Debug, Clone)]
pub struct MqttSender {
    client: MqttClient,
    /// A device's identity, for its `Offline` status on close.
    device: Option<DeviceId>,
}

/// The receiving half of an [`MqttTransport`].
#[derive(Debug, Clone)]
pub struct MqttReceiver {
    client: MqttClient,
    /// Messages on topics outside the scheme, dropped.
    foreign: u64,
}

impl MqttTransport {
    /// A device's transport: client id `tm-{device}`, a last will that sets its status to
    /// `Lost` (retained), and `Online` published first on every connection.
    pub fn device(url: &str, device: DeviceId, edit: impl FnOnce(&mut Config)) -> Result<Self, MqttError> {
        let route = Route::new(RouteKind::Status, device);
        let mut o = Options::new(format!("tm-{device}"));
        o.will = Some(message_for(route, &status_frame(device, DeviceStatus::Lost)));
        o.birth = Some(message_for(route, &status_frame(device, DeviceStatus::Online)));
        let mut config = Config::new(url, o)?;
        edit(&mut config);
        Ok(Self::over(MqttClient::start(config)?, Some(device)))
    }

    /// A server's (or any other) transport with the given client options.
    pub fn new(url: &str, options: Options, edit: impl FnOnce(&mut Config)) -> Result<Self, MqttError> {
        let mut config = Config::new(url, options)?;
        edit(&mut config);
        Ok(Self::over(MqttClient::start(config)?, None))
    }

    fn over(client: MqttClient, device: Option<DeviceId>) -> Self {
        MqttTransport {
            tx: MqttSender { client: client.clone(), device },
            rx: MqttReceiver { client, foreign: 0 },
        }
    }

    /// The client underneath (events, statistics, flush, disconnect).
    pub fn client(&self) -> &MqttClient {
        &self.tx.client
    }

    /// Messages received on topics outside the scheme, dropped.
    pub fn foreign(&self) -> u64 {
        self.rx.foreign
    }
}

impl MqttReceiver {
    /// Messages received on topics outside the scheme, dropped.
    pub fn foreign(&self) -> u64 {
        self.foreign
    }

    fn deliver(&mut self, m: Received, buf: &mut [u8]) -> Option<Result<Delivery, MqttError>> {
        let Some(route) = Route::parse_topic(&m.topic) else {
            self.foreign += 1;
            tracing::debug!(topic = %m.topic, "MQTT message on a topic outside the route scheme: dropped");
            return None;
        };
        Some(
            crate::delivery::copy_out(route, &m.payload, buf)
                .map_err(|t| MqttError::BufferTooSmall { needed: t.needed, available: t.available }),
        )
    }
}

crate::forward::error_type!(MqttError: MqttTransport, MqttSender, MqttReceiver);

impl Sender for MqttSender {
    async fn send(&mut self, route: Route, payload: &[u8]) -> Result<(), MqttError> {
        self.client.publish(message_for(route, payload)).await.map(drop).map_err(|r| rejected(&r))
    }

    async fn send_acked(&mut self, route: Route, payload: &[u8]) -> Result<(), MqttError> {
        match self.client.publish_acked(message_for(route, payload)).await {
            Ok(Some(Outcome::Delivered)) => Ok(()),
            Ok(Some(Outcome::Failed(reason))) => Err(MqttError::Refused(reason)),
            Ok(Some(Outcome::Expired)) => Err(MqttError::Expired),
            Ok(Some(Outcome::Dropped)) => Err(MqttError::Dropped),
            Ok(None) => Err(MqttError::Closed),
            Err(r) => Err(rejected(&r)),
        }
    }

    /// Ends the session gracefully (see [`MqttClient::disconnect`]); a device first marks
    /// itself `Offline` (a clean DISCONNECT does not fire the will).
    async fn close(&mut self) -> Result<(), MqttError> {
        if let Some(device) = self.device {
            let route = Route::new(RouteKind::Status, device);
            let _ = self.client.try_publish(message_for(route, &status_frame(device, DeviceStatus::Offline)));
        }
        let left = self.client.disconnect().await;
        if left > 0 {
            tracing::warn!(unacknowledged = left, "MQTT transport closed with messages unacknowledged");
        }
        Ok(())
    }
}

impl Receiver for MqttReceiver {
    async fn subscribe(&mut self, filter: RouteFilter) -> Result<(), MqttError> {
        self.client.subscribe(filter.topic_filter().as_str(), QoS::AtLeastOnce).await?;
        Ok(())
    }

    async fn receive(&mut self, buf: &mut [u8]) -> Result<Delivery, MqttError> {
        loop {
            let m = self.client.recv().await.ok_or(MqttError::Closed)?;
            if let Some(d) = self.deliver(m, buf) {
                return d;
            }
        }
    }

    fn try_receive(&mut self, buf: &mut [u8]) -> Result<Option<Delivery>, MqttError> {
        while let Some(m) = self.client.try_recv() {
            if let Some(d) = self.deliver(m, buf) {
                return d.map(Some);
            }
        }
        Ok(None)
    }
}

crate::forward::forward_sender!(MqttTransport, Sender, |t| &mut t.tx);
crate::forward::forward_receiver!(MqttTransport, Receiver, |t| &mut t.rx);

impl Transport for MqttTransport {
    type Sender = MqttSender;
    type Receiver = MqttReceiver;

    fn split(self) -> (MqttSender, MqttReceiver) {
        (self.tx, self.rx)
    }
}

//! A device on CoAP: frames POSTed from an outbox that retries until the server answers, and
//! observations of its command routes kept registered.

use std::time::Duration;

use telemetra_core::transport::{Receiver, Sender};
use telemetra_core::{Delivery, DeviceId, DeviceStatus, Route, RouteFilter, RouteKind, Transport};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::super::client::{ClientConfig, CoapClient, Observation, Request};
use super::super::error::CoapError;
use super::{Inbox, path_of};
use crate::coap::Code;

/// How a device runs on CoAP.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeviceConfig {
    /// The CoAP client underneath (with [`ClientConfig::keep_trying`] on: a frame is
    /// retransmitted as one exchange while the server deduplicates it, and only then tried
    /// again as a new one).
    pub client: ClientConfig,
    /// Frames the outbox holds while the server is away; `send` waits for room: 1024.
    pub outbox: usize,
    /// Re-register an observation when no notification came for this long (the Max-Age of a
    /// registration, 60 s, and some slack): 65 s.
    pub reregister_after: Duration,
    /// The longest wait between two tries of a frame the server did not answer: 30 s (the
    /// first wait is 1 s, doubled each time).
    pub max_retry_delay: Duration,
    /// How long `close` waits for the outbox to empty: 10 s.
    pub close_timeout: Duration,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            client: ClientConfig { keep_trying: true, ..ClientConfig::default() },
            outbox: 1024,
            reregister_after: Duration::from_secs(65),
            max_retry_delay: Duration::from_secs(30),
            close_timeout: Duration::from_secs(10),
        }
    }
}

enum Outgoing {
    Frame { route: Route, payload: Vec<u8>, reply: Option<oneshot::Sender<Result<(), CoapError>>> },
    Close(oneshot::Sender<()>),
}

/// A device's [`Transport`] over CoAP (see the [module documentation](super)).
#[derive(Debug)]
pub struct CoapDevice {
    tx: CoapDeviceSender,
    rx: CoapDeviceReceiver,
}

/// The sending half of a [`CoapDevice`].
#[derive(Debug)]
pub struct CoapDeviceSender {
    outbox: mpsc::Sender<Outgoing>,
    device: DeviceId,
    close_timeout: Duration,
}

/// The receiving half of a [`CoapDevice`].
#[derive(Debug)]
pub struct CoapDeviceReceiver {
    client: CoapClient,
    device: DeviceId,
    config: DeviceConfig,
    delivered: mpsc::Sender<(Route, Vec<u8>)>,
    incoming: Inbox,
    watchers: Vec<JoinHandle<()>>,
}

impl Drop for CoapDeviceReceiver {
    fn drop(&mut self) {
        for w in &self.watchers {
            w.abort();
        }
    }
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outgoing::Frame { route, payload, .. } => {
                write!(f, "{} ({} bytes)", route.topic(), payload.len())
            }
            Outgoing::Close(_) => f.write_str("close"),
        }
    }
}

impl CoapDevice {
    /// Device `device` on the server at `url` (`coap://host[:port]`). Its `Online` status is
    /// the first frame it sends.
    pub async fn connect(url: &str, device: DeviceId, config: DeviceConfig) -> Result<CoapDevice, CoapError> {
        let client = CoapClient::connect(url, config.client.clone()).await?;
        let (outbox, queue) = mpsc::channel(config.outbox.max(1));
        tokio::spawn(run_outbox(client.clone(), queue, config.max_retry_delay));
        let route = Route::new(RouteKind::Status, device);
        let online = crate::delivery::status_frame(device, DeviceStatus::Online);
        let _ = outbox.try_send(Outgoing::Frame { route, payload: online, reply: None });
        let (delivered, incoming) = mpsc::channel(256);
        Ok(CoapDevice {
            tx: CoapDeviceSender { outbox, device, close_timeout: config.close_timeout },
            rx: CoapDeviceReceiver {
                client,
                device,
                config,
                delivered,
                incoming: Inbox(incoming),
                watchers: Vec::new(),
            },
        })
    }

    /// The CoAP client underneath (statistics, requests of its own).
    pub fn client(&self) -> &CoapClient {
        &self.rx.client
    }
}

/// Sends the outbox's frames one at a time, each until the server answers it.
async fn run_outbox(client: CoapClient, mut queue: mpsc::Receiver<Outgoing>, max_delay: Duration) {
    while let Some(item) = queue.recv().await {
        let (route, payload, reply) = match item {
            Outgoing::Frame { route, payload, reply } => (route, payload, reply),
            Outgoing::Close(done) => {
                let _ = done.send(());
                return;
            }
        };
        let mut delay = Duration::from_secs(1);
        let result = loop {
            match client.request(Request::post(&path_of(route), payload.clone())).await {
                Ok(r) if r.code.class() == 2 => break Ok(()),
                // Busy: Max-Age 1 says when to come back.
                Ok(r) if r.code == Code::SERVICE_UNAVAILABLE => {
                    tokio::time::sleep(Duration::from_secs(1)).await
                }
                Ok(r) => {
                    tracing::warn!(route = %route.topic(), code = r.code.name(), "CoAP server refused a frame: dropped");
                    break Err(CoapError::Refused(r.code));
                }
                Err(CoapError::Closed) => break Err(CoapError::Closed),
                Err(e) => {
                    tracing::debug!(route = %route.topic(), error = %e, ?delay, "CoAP frame not answered: retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(max_delay);
                }
            }
        };
        if let Some(reply) = reply {
            let _ = reply.send(result);
        }
    }
}

impl CoapDeviceSender {
    async fn queue(
        &self,
        route: Route,
        payload: &[u8],
        reply: Option<oneshot::Sender<Result<(), CoapError>>>,
    ) -> Result<(), CoapError> {
        let item = Outgoing::Frame { route, payload: payload.to_vec(), reply };
        self.outbox.send(item).await.map_err(|_| CoapError::Closed)
    }
}

crate::forward::error_type!(CoapError: CoapDevice, CoapDeviceSender, CoapDeviceReceiver);

impl Sender for CoapDeviceSender {
    async fn send(&mut self, route: Route, payload: &[u8]) -> Result<(), CoapError> {
        self.queue(route, payload, None).await
    }

    async fn send_acked(&mut self, route: Route, payload: &[u8]) -> Result<(), CoapError> {
        let (reply, answer) = oneshot::channel();
        self.queue(route, payload, Some(reply)).await?;
        answer.await.map_err(|_| CoapError::Closed)?
    }

    /// Sends `Offline`, then waits (at most `close_timeout`) for the outbox to empty.
    async fn close(&mut self) -> Result<(), CoapError> {
        let route = Route::new(RouteKind::Status, self.device);
        let offline = crate::delivery::status_frame(self.device, DeviceStatus::Offline);
        let _ = self.queue(route, &offline, None).await;
        let (done, drained) = oneshot::channel();
        if self.outbox.send(Outgoing::Close(done)).await.is_err() {
            return Ok(());
        }
        match tokio::time::timeout(self.close_timeout, drained).await {
            Ok(_) => Ok(()),
            Err(_) => Err(CoapError::TimedOut),
        }
    }
}

impl Receiver for CoapDeviceReceiver {
    /// Observes the one route `filter` names (its device defaults to this device); refuses a
    /// filter of every kind. Returns once the server took the observation.
    async fn subscribe(&mut self, filter: RouteFilter) -> Result<(), CoapError> {
        let kind = filter.kind.ok_or(CoapError::Filter("every kind"))?;
        let route = Route::new(kind, filter.device.unwrap_or(self.device));
        let first = register(&self.client, route).await?;
        let watch = watch(self.client.clone(), route, first, self.delivered.clone(), self.config.clone());
        self.watchers.push(tokio::spawn(watch));
        Ok(())
    }

    async fn receive(&mut self, buf: &mut [u8]) -> Result<Delivery, CoapError> {
        self.incoming.receive(buf).await
    }

    fn try_receive(&mut self, buf: &mut [u8]) -> Result<Option<Delivery>, CoapError> {
        self.incoming.try_receive(buf)
    }
}

/// Registers an observation of `route`; an error if the server would not take it.
async fn register(client: &CoapClient, route: Route) -> Result<Observation, CoapError> {
    let o = client.observe(Request::get(&path_of(route))).await?;
    match (o.first.code.class(), o.first.observe) {
        (2, Some(_)) => Ok(o),
        _ => Err(CoapError::Refused(o.first.code)),
    }
}

/// Forwards the notifications of `route` and keeps it registered.
async fn watch(
    client: CoapClient,
    route: Route,
    mut observation: Observation,
    delivered: mpsc::Sender<(Route, Vec<u8>)>,
    config: DeviceConfig,
) {
    loop {
        if !observation.first.payload.is_empty() {
            let first = std::mem::take(&mut observation.first.payload);
            if delivered.send((route, first)).await.is_err() {
                return;
            }
        }
        loop {
            match tokio::time::timeout(config.reregister_after, observation.next()).await {
                Ok(Some(note)) if note.code.class() == 2 => {
                    if !note.payload.is_empty() && delivered.send((route, note.payload)).await.is_err() {
                        return;
                    }
                }
                // Ended by the server (an error code, a reset, no answer), or quiet too long.
                _ => break,
            }
        }
        // Cancel the old one first, so that no frame arrives by both.
        drop(observation);
        let mut delay = Duration::from_secs(1);
        observation = loop {
            match register(&client, route).await {
                Ok(o) => break o,
                Err(CoapError::Closed) => return,
                Err(e) => {
                    tracing::debug!(route = %route.topic(), error = %e, "CoAP observation not re-registered: retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(config.max_retry_delay);
                }
            }
        };
    }
}

crate::forward::forward_sender!(CoapDevice, Sender, |t| &mut t.tx);
crate::forward::forward_receiver!(CoapDevice, Receiver, |t| &mut t.rx);

impl Transport for CoapDevice {
    type Sender = CoapDeviceSender;
    type Receiver = CoapDeviceReceiver;

    fn split(self) -> (CoapDeviceSender, CoapDeviceReceiver) {
        (self.tx, self.rx)
    }
}

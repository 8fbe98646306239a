//! The transport contract through a real mosquitto and in memory: the route scheme, status
//! frames with the last will, acknowledged sends, split halves on tokio tasks, and the `Link`
//! that picks a transport (built in, or one of the application's own) from a URL.

mod support;

use std::time::Duration;

use support::{Mosquitto, client, within};
use telemetra_codec::{Frame, Message};
use telemetra_core::transport::{ErrorType, Receiver, Sender};
use telemetra_core::{
    Delivery, DeviceId, DeviceStatus, ErrorKind, Route, RouteFilter, RouteKind, Transport, TransportError,
};
use telemetra_transports::link::{Link, Registry, Role};
use telemetra_transports::memory::MemoryHub;
use telemetra_transports::mqtt::client::Options;
use telemetra_transports::mqtt::packet::publish::QoS;
use telemetra_transports::mqtt::transport::MqttTransport;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_travel_along_routes() {
    let broker = Mosquitto::start("");
    let mut server = Link::open(&broker.url(), Role::Server("collector")).await.unwrap();
    let mut device = Link::open(&broker.url(), Role::Device(DeviceId(0x2a))).await.unwrap();
    server.subscribe(RouteFilter::kind(RouteKind::Readings)).await.unwrap();
    device.subscribe(RouteFilter::exact(Route::new(RouteKind::Commands, DeviceId(0x2a)))).await.unwrap();
    device.send(Route::new(RouteKind::Readings, DeviceId(0x2a)), b"frame 1").await.unwrap();
    device.send(Route::new(RouteKind::Alerts, DeviceId(0x2a)), b"not subscribed").await.unwrap();
    server.send_acked(Route::new(RouteKind::Commands, DeviceId(0x2a)), b"command").await.unwrap();
    server.send(Route::new(RouteKind::Commands, DeviceId(0x2b)), b"for another").await.unwrap();
    let mut buf = [0u8; 64];
    let d = within(10, server.receive(&mut buf)).await.unwrap();
    assert_eq!((d.route, &buf[..d.len]), (Route::new(RouteKind::Readings, DeviceId(0x2a)), &b"frame 1"[..]));
    let d = within(10, device.receive(&mut buf)).await.unwrap();
    assert_eq!(&buf[..d.len], b"command");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.try_receive(&mut buf).unwrap(), None);
    assert_eq!(device.try_receive(&mut buf).unwrap(), None);
    // A buffer too small: a typed error, the message dropped, the next one fine.
    device.send(Route::new(RouteKind::Readings, DeviceId(0x2a)), &[7; 100]).await.unwrap();
    device.send(Route::new(RouteKind::Readings, DeviceId(0x2a)), b"small").await.unwrap();
    let e = within(10, server.receive(&mut buf)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BufferTooSmall);
    let d = within(10, server.receive(&mut buf)).await.unwrap();
    assert_eq!(&buf[..d.len], b"small");
}

fn status_of(payload: &[u8]) -> DeviceStatus {
    match Frame::decode(payload).unwrap().message {
        Message::Status(s) => s,
        other => panic!("not a status frame: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_is_a_retained_frame_and_the_will_says_lost() {
    let broker = Mosquitto::start("");
    let status = "tm/v1/2a/status";
    let device =
        MqttTransport::device(&broker.url(), DeviceId(0x2a), |c| c.backoff = support::fast_backoff())
            .unwrap();
    within(10, device.client().connected()).await.unwrap();
    // A late watcher sees the retained status.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let watcher = client(&broker.url(), Options::new("status-watcher")).await;
    watcher.subscribe("tm/v1/+/status", QoS::AtLeastOnce).await.unwrap();
    let m = within(10, watcher.recv()).await.unwrap();
    assert_eq!((m.topic.as_str(), status_of(&m.payload), m.retain), (status, DeviceStatus::Online, true));
    // The device vanishes: its will says it was lost.
    device.client().abort().await;
    let m = within(10, watcher.recv()).await.unwrap();
    assert_eq!((m.topic.as_str(), status_of(&m.payload)), (status, DeviceStatus::Lost));
    // Back, then a clean close: offline.
    let mut device = MqttTransport::device(&broker.url(), DeviceId(0x2a), |_| {}).unwrap();
    assert_eq!(status_of(&within(10, watcher.recv()).await.unwrap().payload), DeviceStatus::Online);
    Sender::close(&mut device).await.unwrap();
    assert_eq!(status_of(&within(10, watcher.recv()).await.unwrap().payload), DeviceStatus::Offline);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acked_send_reports_a_refusal() {
    // The ACL denies writing device 2's routes: the broker refuses the message (MQTT 5 PUBACK
    // 0x87), which send_acked reports and send cannot.
    let broker = support::start_with_acl();
    let mut device = MqttTransport::device(&broker.url(), DeviceId(1), |_| {}).unwrap();
    Sender::send_acked(&mut device, Route::new(RouteKind::Readings, DeviceId(1)), b"mine").await.unwrap();
    let e = Sender::send_acked(&mut device, Route::new(RouteKind::Readings, DeviceId(2)), b"not mine")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
}

/// A receive loop generic over any transport, spawned on tokio: the futures of the contract
/// are `Send` for a `Send` transport.
async fn count_until_stop<R: Receiver + 'static>(mut rx: R) -> Result<usize, R::Error> {
    let mut buf = [0u8; 64];
    let mut n = 0;
    loop {
        let d = rx.receive(&mut buf).await?;
        if &buf[..d.len] == b"stop" {
            return Ok(n);
        }
        n += 1;
    }
}

async fn split_and_spawn<T: Transport + 'static>(mut server: T, mut device: T) {
    server.subscribe(RouteFilter::kind(RouteKind::Readings)).await.unwrap();
    let (_tx, rx) = server.split();
    let counter = tokio::spawn(count_until_stop(rx));
    let route = Route::new(RouteKind::Readings, DeviceId(5));
    for _ in 0..20 {
        device.send(route, b"reading").await.unwrap();
    }
    device.send_acked(route, b"stop").await.unwrap();
    assert_eq!(within(10, counter).await.unwrap().unwrap(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generic_receive_loop_runs_on_a_tokio_task() {
    let hub = MemoryHub::new(64);
    split_and_spawn(hub.connect(), hub.connect()).await;
    let broker = Mosquitto::start("");
    let server = MqttTransport::new(&broker.url(), Options::new("split-server"), |_| {}).unwrap();
    let device = MqttTransport::device(&broker.url(), DeviceId(5), |_| {}).unwrap();
    split_and_spawn(server, device).await;
    let server = Link::open(&broker.url(), Role::Server("split-link")).await.unwrap();
    let device = Link::open("memory://unused", Role::Device(DeviceId(5))).await.unwrap();
    drop(device);
    let device = Link::open(&broker.url(), Role::Device(DeviceId(5))).await.unwrap();
    split_and_spawn(server, device).await;
}

/// A transport an application wrote itself: a tokio broadcast channel, all routes to all.
#[derive(Debug)]
struct Bus {
    tx: tokio::sync::broadcast::Sender<(Route, Vec<u8>)>,
    rx: tokio::sync::broadcast::Receiver<(Route, Vec<u8>)>,
}

#[derive(Debug, thiserror::Error)]
#[error("the bus lagged by {0} messages")]
struct BusError(u64);

impl TransportError for BusError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

impl ErrorType for Bus {
    type Error = BusError;
}

impl Sender for Bus {
    async fn send(&mut self, route: Route, payload: &[u8]) -> Result<(), BusError> {
        let _ = self.tx.send((route, payload.to_vec()));
        Ok(())
    }

    async fn send_acked(&mut self, route: Route, payload: &[u8]) -> Result<(), BusError> {
        Sender::send(self, route, payload).await
    }

    async fn close(&mut self) -> Result<(), BusError> {
        Ok(())
    }
}

impl Receiver for Bus {
    async fn subscribe(&mut self, _filter: RouteFilter) -> Result<(), BusError> {
        Ok(())
    }

    async fn receive(&mut self, buf: &mut [u8]) -> Result<Delivery, BusError> {
        loop {
            if let Some(d) = Receiver::try_receive(self, buf)? {
                return Ok(d);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn try_receive(&mut self, buf: &mut [u8]) -> Result<Option<Delivery>, BusError> {
        match self.rx.try_recv() {
            Ok((route, p)) => {
                buf[..p.len()].copy_from_slice(&p);
                Ok(Some(Delivery { route, len: p.len() }))
            }
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => Err(BusError(n)),
            Err(_) => Ok(None),
        }
    }
}

impl Transport for Bus {
    type Sender = Bus;
    type Receiver = Bus;

    fn split(self) -> (Bus, Bus) {
        let rx = self.tx.subscribe();
        (Bus { tx: self.tx.clone(), rx: self.tx.subscribe() }, Bus { tx: self.tx, rx })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transport_of_the_application_is_chosen_by_its_scheme() {
    let (tx, _) = tokio::sync::broadcast::channel(16);
    let mut registry = Registry::default();
    registry.register("bus", move |_url, _role| {
        let bus = Bus { tx: tx.clone(), rx: tx.subscribe() };
        Box::pin(async move { Ok(Link::new(bus)) })
    });
    let e = registry.open("zigbee://x", Role::Server("a")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("bus://"), "{e}");
    let mut a = registry.open("bus://one", Role::Server("a")).await.unwrap();
    let mut b = registry.open("bus://one", Role::Device(DeviceId(1))).await.unwrap();
    b.send(Route::new(RouteKind::Info, DeviceId(1)), b"hello").await.unwrap();
    let mut buf = [0u8; 8];
    let d = within(5, a.receive(&mut buf)).await.unwrap();
    assert_eq!((d.route.kind, &buf[..d.len]), (RouteKind::Info, &b"hello"[..]));
    // The built-in schemes are still there.
    let mut m = registry.open("memory://link-test", Role::Server("m")).await.unwrap();
    m.subscribe(RouteFilter::ALL).await.unwrap();
    assert_eq!(m.try_receive(&mut buf).unwrap(), None);
}

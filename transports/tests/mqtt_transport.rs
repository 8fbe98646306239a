//! telemetra on MQTT through a real mosquitto: the route scheme, the retained status topic
//! with its last will, and the `Link` that picks the transport from a URL.

mod support;

use std::time::Duration;

use support::{Mosquitto, client, within};
use telemetra_core::{DeviceId, Route, RouteFilter, RouteKind, Transport, TransportError};
use telemetra_transports::link::{Link, Role};
use telemetra_transports::mqtt::client::Options;
use telemetra_transports::mqtt::publish::QoS;
use telemetra_transports::mqtt::transport::{MqttTransport, OFFLINE, ONLINE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_travel_along_routes() {
    let broker = Mosquitto::start("");
    let mut server = Link::open(&broker.url(), Role::Server("collector")).await.unwrap();
    let mut device = Link::open(&broker.url(), Role::Device(DeviceId(0x2a))).await.unwrap();
    server.subscribe(RouteFilter::kind(RouteKind::Readings)).await.unwrap();
    device.subscribe(RouteFilter::exact(Route::new(RouteKind::Commands, DeviceId(0x2a)))).await.unwrap();
    device.send(Route::new(RouteKind::Readings, DeviceId(0x2a)), b"frame 1").await.unwrap();
    device.send(Route::new(RouteKind::Alerts, DeviceId(0x2a)), b"not subscribed").await.unwrap();
    server.send(Route::new(RouteKind::Commands, DeviceId(0x2a)), b"command").await.unwrap();
    server.send(Route::new(RouteKind::Commands, DeviceId(0x2b)), b"for another").await.unwrap();
    let mut buf = [0u8; 64];
    let d = within(10, server.receive(&mut buf)).await.unwrap();
    assert_eq!((d.route, &buf[..d.len]), (Route::new(RouteKind::Readings, DeviceId(0x2a)), &b"frame 1"[..]));
    let d = within(10, device.receive(&mut buf)).await.unwrap();
    assert_eq!(&buf[..d.len], b"command");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(server.try_receive(&mut buf).is_none() && device.try_receive(&mut buf).is_none());
    // A buffer too small: a typed error, the message dropped, the next one fine.
    device.send(Route::new(RouteKind::Readings, DeviceId(0x2a)), &[7; 100]).await.unwrap();
    device.send(Route::new(RouteKind::Readings, DeviceId(0x2a)), b"small").await.unwrap();
    let e = within(10, server.receive(&mut buf)).await.unwrap_err();
    assert_eq!(e.kind(), telemetra_core::ErrorKind::BufferTooSmall);
    let d = within(10, server.receive(&mut buf)).await.unwrap();
    assert_eq!(&buf[..d.len], b"small");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_is_retained_and_the_will_sets_it_offline() {
    let broker = Mosquitto::start("");
    let status = "tm/v1/2a/status";
    let device =
        MqttTransport::device(&broker.url(), DeviceId(0x2a), |c| c.backoff = support::fast_backoff())
            .unwrap();
    within(10, device.client().connected()).await;
    // A late watcher sees the retained status.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let watcher = client(&broker.url(), Options::new("status-watcher")).await;
    watcher.subscribe("tm/v1/+/status", QoS::AtLeastOnce).await.unwrap();
    let m = within(10, watcher.recv()).await.unwrap();
    assert_eq!((m.topic.as_str(), m.payload.as_slice(), m.retain), (status, ONLINE, true));
    // The device vanishes: its will says offline.
    device.client().abort().await;
    let m = within(10, watcher.recv()).await.unwrap();
    assert_eq!((m.topic.as_str(), m.payload.as_slice()), (status, OFFLINE));
    // Back, then a clean close: offline too.
    let device = MqttTransport::device(&broker.url(), DeviceId(0x2a), |_| {}).unwrap();
    assert_eq!(within(10, watcher.recv()).await.unwrap().payload, ONLINE);
    device.close().await;
    assert_eq!(within(10, watcher.recv()).await.unwrap().payload, OFFLINE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_is_picked_by_url() {
    assert!(Link::open("coap://x", Role::Server("a")).await.is_err());
    let mut a = Link::open("memory://link-test", Role::Server("a")).await.unwrap();
    let mut b = Link::open("memory://link-test", Role::Device(DeviceId(1))).await.unwrap();
    a.subscribe(RouteFilter::ALL).await.unwrap();
    b.send(Route::new(RouteKind::Info, DeviceId(1)), b"hello").await.unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(a.receive(&mut buf).await.unwrap().len, 5);
}

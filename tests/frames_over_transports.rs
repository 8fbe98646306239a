//! Frames on every route, the same over memory and through a real mosquitto: every message
//! kind decodes on the route it belongs to (status included), a batch of 1,000 readings on 4
//! channels with quality flags crosses MQTT intact, and a frame stream skips a bad message.

#[path = "../transports/tests/support/broker.rs"]
mod support;

use std::pin::pin;
use std::time::Duration;

use futures_util::StreamExt;
use telemetra::codec::batch::pack;
use telemetra::codec::{Heartbeat, limits};
use telemetra::model::text::bounded;
use telemetra::model::{FirmwareVersion, Location};
use telemetra::prelude::*;

const DEV: DeviceId = DeviceId(0x2a);

fn one_of_each() -> Vec<Frame> {
    let at = Timestamp(1_700_000_000_000);
    let mut readings = telemetra::heapless::Vec::new();
    readings.push(Reading::new(ChannelId(1), at, 21.5)).unwrap();
    readings.push(Reading::new(ChannelId(2), at, Location::new(47.37, 8.54))).unwrap();
    let info = Device {
        id: DEV,
        model: bounded("model", "th-v2").unwrap(),
        firmware: FirmwareVersion::new(1, 0, 0),
        channels: Default::default(),
        tags: Default::default(),
    };
    let cmd = Command {
        id: CommandId(1),
        issued_at: at,
        expires_at: None,
        action: CommandAction::Actuate { channel: ChannelId(3), setpoint: Value::Bool(true) },
    };
    let ack = CommandAck { command: CommandId(1), at, result: CommandResult::Completed };
    let alert = Alert {
        rule: bounded("rule", "hot").unwrap(),
        device: DEV,
        state: AlertState::Raised,
        severity: Severity::Major,
        channel: Some(ChannelId(1)),
        value: Some(Value::from(31.0)),
        at,
        message: bounded("m", "Hot").unwrap(),
    };
    let batch = pack(&[Reading::new(ChannelId(1), at, 1.0)]).unwrap().remove(0);
    [
        Message::Readings(readings),
        Message::DeviceInfo(info),
        Message::Status(DeviceStatus::Online),
        Message::Alert(alert),
        Message::Command(cmd),
        Message::Ack(ack),
        Message::Heartbeat(Heartbeat { uptime_ms: 5, battery_pct: None, rssi_dbm: None }),
        Message::Batch(batch),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, m)| Frame::new(DEV, i as u32 + 1, m))
    .collect()
}

/// Every kind sent by `device` arrives at `server` (subscribed to everything) decoded, on its
/// own route, in order.
async fn every_route(mut server: Link, mut device: Link) {
    server.subscribe(RouteFilter::ALL).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let frames = one_of_each();
    for f in &frames {
        send_frame_acked(&mut device, f).await.unwrap();
    }
    let mut buf = [0u8; limits::MAX_FRAME];
    let mut got = Vec::new();
    while got.len() < frames.len() {
        let f = support::within(10, receive_frame(&mut server, &mut buf)).await.unwrap();
        // Over MQTT the device's own birth message arrives too.
        if f.seq != 0 {
            got.push(f);
        }
    }
    assert_eq!(got, frames);
    let kinds: Vec<RouteKind> = got.iter().map(|f| f.route().kind).collect();
    for kind in RouteKind::ALL.into_iter().filter(|k| *k != RouteKind::Rules) {
        assert!(kinds.contains(&kind), "{kind:?} missing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_decodes_over_memory_and_mqtt() {
    let server = Link::open("memory://routes", Role::Server("s")).await.unwrap();
    let device = Link::open("memory://routes", Role::Device(DEV)).await.unwrap();
    every_route(server, device).await;
    let broker = support::Mosquitto::start("");
    let server = Link::open(&broker.url(), Role::Server("routes-server")).await.unwrap();
    let device = Link::open(&broker.url(), Role::Device(DEV)).await.unwrap();
    every_route(server, device).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_readings_on_four_channels_cross_mqtt_as_batches() {
    let broker = support::Mosquitto::start("");
    let mut server = Link::open(&broker.url(), Role::Server("batch-server")).await.unwrap();
    let mut device = Link::open(&broker.url(), Role::Device(DEV)).await.unwrap();
    server.subscribe(RouteFilter::kind(RouteKind::Readings)).await.unwrap();
    let mut readings = Vec::new();
    for i in 0..250u64 {
        let at = Timestamp(1_700_000_000_000 + i * 60_000);
        let q = if i % 50 == 7 { Quality::ESTIMATED } else { Quality::GOOD };
        readings.push(Reading::new(ChannelId(1), at, 20.0 + (i % 13) as f64 / 10.0).with_quality(q));
        readings.push(Reading::new(ChannelId(2), at, 1000 + (i as i64 % 7)));
        readings.push(Reading::new(ChannelId(3), at, i % 3 == 0));
        readings.push(Reading::new(ChannelId(4), at, (i as f64).sqrt()).with_quality(Quality::DELAYED));
    }
    let batches = pack(&readings).unwrap();
    for (i, b) in batches.iter().enumerate() {
        send_frame_acked(&mut device, &Frame::new(DEV, i as u32 + 1, Message::Batch(b.clone())))
            .await
            .unwrap();
    }
    let (_tx, rx) = server.split();
    let mut frames = pin!(telemetra::frames::stream(rx));
    let mut back = Vec::new();
    for _ in 0..batches.len() {
        let f = support::within(10, frames.next()).await.unwrap().unwrap();
        let Message::Batch(b) = f.message else { panic!("{f:?}") };
        back.extend(b.readings().unwrap());
    }
    assert_eq!(back.len(), 1000);
    let key = |r: &Reading| (r.channel, r.at);
    let mut want = readings.clone();
    want.sort_by_key(key);
    back.sort_by_key(key);
    assert_eq!(back, want);
}

#[tokio::test]
async fn a_frame_stream_skips_what_it_cannot_decode() {
    let mut server = Link::open("memory://skip", Role::Server("s")).await.unwrap();
    let mut device = Link::open("memory://skip", Role::Device(DEV)).await.unwrap();
    server.subscribe(RouteFilter::ALL).await.unwrap();
    let route = Route::new(RouteKind::Readings, DEV);
    device.send(route, b"\x07not a frame").await.unwrap();
    let spoof = Frame::new(DeviceId(99), 1, Message::Status(DeviceStatus::Lost));
    device.send(Route::new(RouteKind::Status, DEV), &spoof.to_vec().unwrap()).await.unwrap();
    send_frame(&mut device, &Frame::new(DEV, 2, Message::Status(DeviceStatus::Offline))).await.unwrap();
    let (_tx, rx) = server.split();
    let mut frames = pin!(telemetra::frames::stream(rx));
    let e = frames.next().await.unwrap().unwrap_err();
    assert!(e.to_string().contains("frame version 7"), "{e}");
    let e = frames.next().await.unwrap().unwrap_err();
    assert!(e.to_string().contains("arrived on tm/v1/2a/status"), "{e}");
    let f = frames.next().await.unwrap().unwrap();
    assert_eq!(f.message, Message::Status(DeviceStatus::Offline));
}

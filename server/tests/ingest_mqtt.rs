//! The ingest pipeline through a real mosquitto: a device publishes its descriptor and
//! readings over MQTT, the server stores them and its rule sends a command back, which the
//! device acknowledges; the broker is restarted mid-stream and the device redelivers what it
//! was not sure of: every frame is stored once, the alarm happens once.

#[path = "../../transports/tests/support/broker.rs"]
mod broker;
#[path = "support/thermometer.rs"]
mod thermometer;

use std::sync::Arc;
use std::time::Duration;

use broker::{Mosquitto, within};
use telemetra_codec::limits::MAX_FRAME;
use telemetra_codec::{Frame, Message};
use telemetra_core::transport::{Receiver, Sender, Transport};
use telemetra_core::{
    AlertState, ChannelId, CommandAck, CommandResult, Device, DeviceId, FirmwareVersion, Reading, Route,
    RouteFilter, RouteKind, Timestamp,
};
use telemetra_rules::Engine;
use telemetra_server::ingest::{Ingest, IngestConfig, now};
use telemetra_server::store::{SqliteStore, Store};
use telemetra_transports::link::{Link, Role};

const RULES: &str = r#"
rule overheat: when temperature > 80 clear when temperature < 70
    then alert critical "Motor overheating", command set fan = 1
"#;

fn info() -> Device {
    thermometer::thermometer(0x31, "motor", FirmwareVersion::new(2, 1, 0))
}

fn bytes(seq: u32, message: Message) -> Vec<u8> {
    Frame::new(DeviceId(0x31), seq, message).to_vec().unwrap()
}

fn temperature(seq: u32, start: Timestamp, celsius: f64) -> (RouteKind, Vec<u8>) {
    let r = Reading::new(ChannelId(1), Timestamp(start.0 + u64::from(seq) * 100), celsius);
    (RouteKind::Readings, bytes(seq, Message::Readings([r].into_iter().collect())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_through_mosquitto_is_stored_once_across_a_broker_restart() {
    let mut broker = Mosquitto::start("");
    let url = broker.url();
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let mut engine = Engine::new(Default::default());
    engine.load(telemetra_rules::parse(RULES).unwrap()).unwrap();
    let ingest = Ingest::new(store.clone(), engine, IngestConfig::default());
    let stats = ingest.stats();
    let server_link = Link::open(&url, Role::Server("tm-ingest")).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(ingest.run(server_link, async move {
        let _ = stopped.await;
    }));

    let device = Link::open(&url, Role::Device(DeviceId(0x31))).await.unwrap();
    let (mut tx, mut rx) = Transport::split(device);
    Receiver::subscribe(&mut rx, RouteFilter::exact(Route::new(RouteKind::Commands, DeviceId(0x31))))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = now();
    let route = |kind| Route::new(kind, DeviceId(0x31));
    Sender::send_acked(&mut tx, route(RouteKind::Info), &bytes(1, Message::DeviceInfo(info())))
        .await
        .unwrap();
    for (seq, celsius) in (2..12).zip([60.0, 65.0, 70.0, 75.0, 78.0, 82.0, 85.0, 83.0, 79.0, 76.0]) {
        let (kind, b) = temperature(seq, start, celsius);
        Sender::send_acked(&mut tx, route(kind), &b).await.unwrap();
    }
    // The overheat command arrives; the device acknowledges it.
    let mut buf = vec![0u8; MAX_FRAME];
    let d = within(10, Receiver::receive(&mut rx, &mut buf)).await.unwrap();
    let Message::Command(cmd) = Frame::decode(&buf[..d.len]).unwrap().message else {
        panic!("not a command")
    };
    let ack = CommandAck { command: cmd.id, at: now(), result: CommandResult::Completed };
    Sender::send_acked(&mut tx, route(RouteKind::Acks), &bytes(12, Message::Ack(ack))).await.unwrap();

    // The broker goes down and comes back; the device, unsure what got through, sends its last
    // readings again, then new ones that clear the alarm.
    broker.stop();
    tokio::time::sleep(Duration::from_millis(500)).await;
    broker.restart();
    for (seq, celsius) in (9..12).zip([83.0, 79.0, 76.0]).chain((13..16).zip([72.0, 68.0, 65.0])) {
        let (kind, b) = temperature(seq, start, celsius);
        within(20, Sender::send_acked(&mut tx, route(kind), &b)).await.unwrap();
    }
    within(20, async {
        while stats.get().readings < 13 || stats.get().alerts < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let s = stats.get();
    // Its 15 frames, and the link's own status frames (online at each connection).
    assert!(s.frames >= 15, "{s:?}");
    assert_eq!(s.readings, 13, "{s:?}");
    assert!(s.duplicates >= 3, "the redelivered readings were seen and skipped: {s:?}");
    assert_eq!(s.commands, 1, "one alarm, one command: {s:?}");
    let alerts = store.alerts(None, 10).await.unwrap();
    assert_eq!(alerts.iter().map(|a| a.state).collect::<Vec<_>>(), [AlertState::Cleared, AlertState::Raised]);
    let p =
        store.series(DeviceId(0x31), ChannelId(1), start, Timestamp(start.0 + 10_000), 100).await.unwrap();
    assert_eq!(p.iter().map(|p| p.count).sum::<u64>(), 13, "each reading stored once");
    let commands = store.commands(DeviceId(0x31)).await.unwrap();
    assert_eq!(commands[0].ack.map(|a| a.result), Some(CommandResult::Completed));
    let devices = store.devices().await.unwrap();
    assert_eq!(devices[0].info.as_ref().map(|i| i.model.as_str()), Some("motor"));
    stop.send(()).unwrap();
    within(10, server).await.unwrap().unwrap();
    let _ = Sender::close(&mut tx).await;
}

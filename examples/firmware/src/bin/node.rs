//! The full node: MQTT over the UART, readings out every tick, commands and rule frames in,
//! the rules run on the device, alerts and command acknowledgements out. This is the binary a
//! firmware developer starts from.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

use cortex_m_rt::entry;
use telemetra::codec::{Frame, Message};
use telemetra::model::{CommandAck, CommandResult, DeviceStatus, Route, RouteKind, Timestamp};
use telemetra::mqtt::{Event as MqttEvent, Message as MqttMessage, Options, QoS};
use telemetra::rules::{Engine, EngineConfig, Event, Progress, RuleSetAssembler};
use telemetra_firmware_example::app::{self, mqtt::MqttLink};
use telemetra_firmware_example::{self as board};

/// Publishes `frame` on its route at QoS 1 (retained where the route says so).
fn publish(link: &mut MqttLink, frame: &Frame, now: u64) {
    let mut buf = [0u8; app::FRAME];
    let Ok(bytes) = frame.encode(&mut buf) else { return };
    let route = frame.route();
    let mut m = MqttMessage::new(route.topic().as_str(), &*bytes).with_qos(QoS::AtLeastOnce);
    m.retain = route.kind.is_retained();
    // A full offline queue hands the message back; readings are worth less than a stall.
    let _ = link.client.publish(m, now);
}

#[entry]
fn main() -> ! {
    let mut uart = board::init();
    let status = Route::new(RouteKind::Status, app::DEVICE);
    let mut options = Options::new("tm-2a");
    let mut buf = [0u8; 16];
    let lost = Frame::new(app::DEVICE, 0, Message::Status(DeviceStatus::Lost));
    if let Ok(bytes) = lost.encode(&mut buf) {
        options.will =
            Some(MqttMessage::new(status.topic().as_str(), &*bytes).with_qos(QoS::AtLeastOnce).retained());
    }
    let mut link = MqttLink::connect(options, board::clock::now());
    let mut assembler = RuleSetAssembler::<5>::new();
    let mut engine = Engine::new(EngineConfig { max_devices: 1, memory_budget: 4 * 1024 });
    let (mut events, mut seq, mut tick) = (Vec::new(), 0u32, 0u32);
    let (mut acked, mut alerts, mut next) = (0u32, 0u32, 0u64);
    while board::clock::now() < 30_000 {
        let now = board::clock::now();
        if link.pump(&mut uart, now).is_err() {
            board::probe::fail(b"mqtt");
        }
        while let Some(event) = link.client.poll_event() {
            if let MqttEvent::Connected { .. } = event {
                for kind in [RouteKind::Commands, RouteKind::Rules] {
                    let _ = link.client.subscribe(&Route::new(kind, app::DEVICE).topic(), QoS::AtLeastOnce);
                }
                publish(&mut link, &Frame::new(app::DEVICE, 0, Message::Status(DeviceStatus::Online)), now);
            }
        }
        while let Some(m) = link.client.poll_message() {
            let Ok(frame) = Frame::decode(&m.payload) else { continue };
            match frame.message {
                Message::Command(cmd) => {
                    seq += 1;
                    let ack =
                        CommandAck { command: cmd.id, at: Timestamp(now), result: CommandResult::Completed };
                    publish(&mut link, &Frame::new(app::DEVICE, seq, Message::Ack(ack)), now);
                    acked += 1;
                }
                Message::Rule(part) => {
                    if let Ok(Progress::Complete { .. }) = assembler.accept(part) {
                        let rules: Vec<_> = assembler.rules().into_iter().flatten().cloned().collect();
                        if engine.load(rules).is_err() {
                            board::probe::fail(b"rule set refused");
                        }
                    }
                }
                _ => {}
            }
        }
        // A reading every 100 ms of real time, stamped 10 s apart: the simulated sensors
        // climb past every threshold within a few seconds.
        if now >= next && link.client.is_connected() {
            next = now + 100;
            tick += 1;
            seq += 1;
            let at = Timestamp(u64::from(tick) * 10_000);
            let frame = app::readings_frame(seq, tick, at);
            publish(&mut link, &frame, now);
            if let Message::Readings(rs) = &frame.message {
                for r in rs {
                    let channel = match r.channel {
                        app::TEMPERATURE => "temperature",
                        app::HUMIDITY => "humidity",
                        _ => "motion",
                    };
                    if let Some(x) = r.value.as_f64() {
                        engine.ingest(app::DEVICE, channel, at, x, &mut events);
                    }
                }
            }
            engine.advance(at, &mut events);
            for event in events.drain(..) {
                if let Event::Alert(alert) = event {
                    seq += 1;
                    alerts += 1;
                    publish(&mut link, &Frame::new(app::DEVICE, seq, Message::Alert(alert)), now);
                }
            }
        }
        if acked > 0 && alerts > 0 && link.client.is_idle() {
            let mut buf = [0u8; 16];
            let offline = Frame::new(app::DEVICE, 0, Message::Status(DeviceStatus::Offline));
            if let Ok(bytes) = offline.encode(&mut buf) {
                let m =
                    MqttMessage::new(status.topic().as_str(), &*bytes).with_qos(QoS::AtLeastOnce).retained();
                let _ = link.client.publish(m, now);
            }
            while !link.client.is_idle() && board::clock::now() < now + 2_000 {
                let _ = link.pump(&mut uart, board::clock::now());
            }
            link.client.disconnect(board::clock::now());
            let _ = link.pump(&mut uart, board::clock::now());
            board::probe::finish();
        }
    }
    board::probe::fail(b"timeout")
}

//! The full node: MQTT over the UART, readings out every tick, commands and rule frames in,
//! the rules run on the device, alerts and command acknowledgements out. This is the binary a
//! firmware developer starts from.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec::Vec;

use cortex_m_rt::entry;
use telemetra::codec::{Body, FrameView, MessageKind, ReadingsBody, encode_body};
use telemetra::model::{CommandAck, CommandResult, DeviceStatus, Route, RouteKind, Timestamp};
use telemetra::mqtt::{Event as MqttEvent, Message as MqttMessage, Options, QoS};
use telemetra::rules::{CompactRule, Engine, EngineConfig, Event, Progress, RuleSetAssembler};
use telemetra_firmware_example::app::{self, mqtt::MqttLink};
use telemetra_firmware_example::{self as board};

/// The MQTT message of a frame of this device carrying `body`, on the body's route at QoS 1
/// (retained where the route says so).
fn message<B: Body + ?Sized>(seq: u32, body: &B) -> Option<MqttMessage> {
    let mut buf = [0u8; app::FRAME];
    let bytes = encode_body(app::DEVICE, seq, body, &mut buf).ok()?;
    let route = Route::new(B::KIND.route_kind(), app::DEVICE);
    let mut m = MqttMessage::new(route.topic().as_str(), &*bytes).with_qos(QoS::AtLeastOnce);
    m.retain = route.kind.is_retained();
    Some(m)
}

/// Queues a frame; a full offline queue hands it back, and readings are worth less than a
/// stall, so it is dropped.
fn publish<B: Body + ?Sized>(link: &mut MqttLink, seq: u32, body: &B, now: u64) {
    if let Some(m) = message(seq, body) {
        let _ = link.client.publish(m, now);
    }
}

#[entry]
fn main() -> ! {
    let mut uart = board::init();
    let mut options = Options::new("tm-2a");
    // The last will: the broker says `Lost` for this node if it vanishes.
    options.will = message(0, &DeviceStatus::Lost);
    let mut link = MqttLink::connect(options, board::clock::now());
    // Each rule is decoded in place into a 1.3 KB buffer while it is read, and kept compact
    // (a few hundred bytes, the form the engine keeps).
    let mut assembler = RuleSetAssembler::<5, Box<CompactRule>>::new();
    let mut engine = Engine::<f32>::with_config(EngineConfig { max_devices: 1, memory_budget: 4 * 1024 });
    let (mut events, mut seq, mut tick) = (Vec::with_capacity(2), 0u32, 0u32);
    // Room for two events per reading (an `Event` is 192 bytes); more grow it.
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
                publish(&mut link, 0, &DeviceStatus::Online, now);
            }
        }
        while let Some(m) = link.client.poll_message() {
            // Only the kinds this node handles are decoded: commands and rules.
            let Ok(view) = FrameView::parse(&m.payload) else { continue };
            match view.kind() {
                MessageKind::Command => {
                    let Ok(cmd) = view.command() else { continue };
                    seq += 1;
                    let ack =
                        CommandAck { command: cmd.id, at: Timestamp(now), result: CommandResult::Completed };
                    publish(&mut link, seq, &ack, now);
                    acked += 1;
                }
                MessageKind::Rule => {
                    // Decoded where it will live, in a box: never copied through the stack.
                    let mut buffer = app::rule_buffer();
                    let Ok(place) = view.rule_into(&mut buffer) else { continue };
                    if let Ok(Progress::Complete { .. }) = assembler.accept_copy(place, &buffer)
                        && engine.load(assembler.into_rules().into_iter().flatten()).is_err()
                    {
                        board::probe::fail(b"rule set refused");
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
            let readings = app::sample(tick, at);
            publish(&mut link, seq, &ReadingsBody(&readings), now);
            for r in &readings {
                if let Some(x) = r.value.as_f32() {
                    engine.ingest(app::DEVICE, app::channel_name(r.channel), at, x, &mut events);
                }
            }
            engine.advance(at, &mut events);
            // Read, then cleared: `drain` would move the tail with `memmove` (1.5 KB).
            for event in &events {
                if let Event::Alert(alert) = event {
                    seq += 1;
                    alerts += 1;
                    publish(&mut link, seq, alert, now);
                }
            }
            events.clear();
        }
        if acked > 0 && alerts > 0 && link.client.is_idle() {
            publish(&mut link, 0, &DeviceStatus::Offline, now);
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

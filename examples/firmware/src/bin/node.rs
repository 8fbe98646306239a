//! The full node: MQTT over the UART, readings out every tick, commands and rule frames in,
//! the rules run on the device, alerts and command acknowledgements out. This is the binary a
//! firmware developer starts from.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec::Vec;

use cortex_m_rt::entry;
use heapless::Vec as Fixed;
use telemetra::codec::{Body, FrameView, MessageKind, ReadingsBody, encode_body};
use telemetra::model::{CommandAck, CommandId, CommandResult, DeviceStatus, Route, RouteKind, Timestamp};
use telemetra::mqtt::QoS;
use telemetra::mqtt::lite::{LiteError, LiteEvent, LiteOptions};
use telemetra::mqtt::packet::subscribe::Subscription;
use telemetra::rules::{CompactRule, Event, NodeEngine, Progress, RuleSetAssembler};
use telemetra_firmware_example::app::{self, mqtt::MqttLink};
use telemetra_firmware_example::{self as board};

/// A frame of this device, encoded, with the route it goes on.
#[derive(Clone)]
struct Outgoing {
    kind: RouteKind,
    bytes: Fixed<u8, { app::FRAME }>,
}

/// Encodes a frame of this device carrying `body`.
fn frame<B: Body + ?Sized>(seq: u32, body: &B) -> Option<Outgoing> {
    let mut buf = [0u8; app::FRAME];
    let bytes = encode_body(app::DEVICE, seq, body, &mut buf).ok()?;
    Some(Outgoing { kind: B::KIND.route_kind(), bytes: Fixed::from_slice(bytes).ok()? })
}

/// Publishes a frame on its route at QoS 1 (retained where the route says so).
fn publish(link: &mut MqttLink, out: &Outgoing, now: u64) -> Result<(), LiteError> {
    let route = Route::new(out.kind, app::DEVICE);
    link.client.publish(&route.topic(), &out.bytes, QoS::AtLeastOnce, out.kind.is_retained(), now).map(|_| ())
}

/// Frames that must not be lost (acknowledgements, alerts, status) wait here while the
/// in-flight window is full; readings are worth less than a stall and are dropped instead.
type Pending = Fixed<Outgoing, 4>;

fn send_or_keep(link: &mut MqttLink, pending: &mut Pending, out: Option<Outgoing>, now: u64) {
    let Some(out) = out else { return };
    if pending.is_empty() && publish(link, &out, now).is_ok() {
        return;
    }
    if pending.push(out).is_err() {
        board::probe::fail(b"pending frames overflow");
    }
}

#[entry]
fn main() -> ! {
    let mut uart = board::init();
    // The last will: the broker says `Lost` for this node if it vanishes.
    let lost = frame(0, &DeviceStatus::Lost).unwrap_or_else(|| board::probe::fail(b"will"));
    let status_topic = Route::new(RouteKind::Status, app::DEVICE).topic();
    let mut options = LiteOptions::new("tm-2a");
    options.will = Some((&status_topic, &lost.bytes, QoS::AtLeastOnce, true));
    let link = MqttLink::take();
    link.connect(&options, board::clock::now());
    // Each rule is decoded in place into a 1.3 KB buffer while it is read, and kept compact
    // (a few hundred bytes, the form the engine keeps).
    let mut assembler = RuleSetAssembler::<5, Box<CompactRule>>::new();
    // The engine of this device, on this device: rule state within 4 KB of heap.
    let mut engine = NodeEngine::<f32>::new(app::DEVICE, &[], 4 * 1024);
    engine.online(Timestamp(0));
    // Room for two events per reading (an `Event` is 192 bytes); more grow it.
    let (mut events, mut seq, mut tick) = (Vec::with_capacity(2), 0u32, 0u32);
    let (mut acked, mut alerts, mut next) = (0u32, 0u32, 0u64);
    let mut pending = Pending::new();
    while board::clock::now() < 30_000 {
        let now = board::clock::now();
        let (mut connected, mut commands) = (false, Fixed::<CommandId, 4>::new());
        let pumped = link.pump(&mut uart, now, &mut |event| match event {
            LiteEvent::Connected { .. } => connected = true,
            LiteEvent::Message { payload, .. } => {
                // Only the kinds this node handles are decoded: commands and rules.
                let Ok(view) = FrameView::parse(payload) else { return };
                match view.kind() {
                    MessageKind::Command => {
                        if let Ok(cmd) = view.command() {
                            // Obeyed here; acknowledged once the pump returns.
                            let _ = commands.push(cmd.id);
                        }
                    }
                    MessageKind::Rule => {
                        // Decoded where it will live, in a box: never copied through the stack.
                        let mut buffer = app::rule_buffer();
                        let Ok(place) = view.rule_into(&mut buffer) else { return };
                        if let Ok(Progress::Complete { .. }) = assembler.accept_copy(place, &buffer)
                            && engine.load(assembler.into_rules().into_iter().flatten()).is_err()
                        {
                            board::probe::fail(b"rule set refused");
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        });
        if pumped.is_err() {
            board::probe::fail(b"mqtt");
        }
        if connected {
            let (commands, rules) = (
                Route::new(RouteKind::Commands, app::DEVICE).topic(),
                Route::new(RouteKind::Rules, app::DEVICE).topic(),
            );
            let filters =
                [Subscription::new(&commands, QoS::AtLeastOnce), Subscription::new(&rules, QoS::AtLeastOnce)];
            if link.client.subscribe(&filters, now).is_err() {
                board::probe::fail(b"subscribe");
            }
            send_or_keep(link, &mut pending, frame(0, &DeviceStatus::Online), now);
        }
        for id in commands {
            seq += 1;
            let ack = CommandAck { command: id, at: Timestamp(now), result: CommandResult::Completed };
            send_or_keep(link, &mut pending, frame(seq, &ack), now);
            acked += 1;
        }
        // What waited for room goes first, in order.
        while let Some(out) = pending.first() {
            if publish(link, out, now).is_err() {
                break;
            }
            // Rebuilt without the first (four entries at most): `remove(0)` would link memmove.
            pending = pending.iter().skip(1).cloned().collect();
        }
        // A reading every 100 ms of real time, stamped 10 s apart: the simulated sensors
        // climb past every threshold within a few seconds.
        if now >= next && link.client.is_connected() && pending.is_empty() {
            next = now + 100;
            tick += 1;
            seq += 1;
            let at = Timestamp(u64::from(tick) * 10_000);
            let readings = app::sample(tick, at);
            if let Some(out) = frame(seq, &ReadingsBody(&readings)) {
                let _ = publish(link, &out, now);
            }
            for r in &readings {
                if let Some(x) = r.value.as_f32() {
                    engine.ingest(app::channel_name(r.channel), at, x, &mut events);
                }
            }
            engine.advance(at, &mut events);
            // Read, then cleared: `drain` would move the tail with `memmove` (1.5 KB).
            for event in &events {
                if let Event::Alert(alert) = event {
                    seq += 1;
                    alerts += 1;
                    send_or_keep(link, &mut pending, frame(seq, alert), now);
                }
            }
            events.clear();
        }
        if acked > 0 && alerts > 0 && pending.is_empty() && link.client.is_idle() {
            send_or_keep(link, &mut pending, frame(0, &DeviceStatus::Offline), now);
            while !link.client.is_idle() && board::clock::now() < now + 2_000 {
                let _ = link.pump(&mut uart, board::clock::now(), &mut |_| {});
            }
            let _ = link.client.disconnect();
            let _ = link.pump(&mut uart, board::clock::now(), &mut |_| {});
            board::probe::finish();
        }
    }
    board::probe::fail(b"timeout")
}

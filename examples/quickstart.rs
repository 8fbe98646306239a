//! The whole cycle in one process: simulated devices describe themselves and report readings as
//! telemetra frames over the in-process memory transport; a server decodes them, runs a rule
//! set, prints the alerts, and sends commands back; the devices obey and acknowledge.
//!
//! ```text
//! cargo run --example quickstart                                # in process (memory://)
//! cargo run --example quickstart -- mqtt://127.0.0.1:1883       # through an MQTT broker
//! cargo run --example quickstart -- coap://127.0.0.1:5683       # over CoAP (the server binds it)
//! ```
//!
//! To move this onto a network, only the URL changes: every endpoint is a
//! [`Link`](telemetra::transports::link::Link) opened from it.

use std::collections::BTreeMap;
use std::error::Error;
use std::pin::pin;
use std::time::Duration;

use futures_util::StreamExt;
use telemetra::codec::limits;
use telemetra::heapless;
use telemetra::model::text::bounded;
use telemetra::model::{FirmwareVersion, Location, RejectReason, Tag};
use telemetra::prelude::*;
use telemetra::rules::parse;

/// Simulated time: ten-second ticks from 2026-11-26T00:00:00Z. Nothing reads a clock.
const START: Timestamp = Timestamp(1_795_651_200_000);
const TICK_MS: u64 = 10_000;
const TICKS: u64 = 60;

/// The server's rules. The power meter obeys the limit the second rule sends it.
const RULES: &str = r#"
rule too_warm: on tag site = "greenhouse-2" when avg(temperature, 2m) > 23 for 1m
    clear when temperature < 22.5 then alert major "Greenhouse too warm"
rule power_peak: when power > 1450 times 2 clear when power < 1300
    then alert warning "Power peak", command set limit_w = 1400
"#;

/// A small deterministic noise source (xorshift), so every run prints the same table.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 2001) as f64 / 1000.0 - 1.0
    }
}

fn round(v: f64, places: i32) -> f64 {
    let p = 10f64.powi(places);
    (v * p).round() / p
}

fn channel(id: u16, name: &str, quantity: Quantity, unit: Unit) -> Result<ChannelSpec, Box<dyn Error>> {
    Ok(ChannelSpec {
        id: ChannelId(id),
        name: bounded("channel name", name)?,
        quantity,
        unit,
        period_ms: TICK_MS as u32,
    })
}

fn device(id: u64, model: &str, site: &str, channels: Vec<ChannelSpec>) -> Result<Device, Box<dyn Error>> {
    Ok(Device {
        id: DeviceId(id),
        model: bounded("model", model)?,
        firmware: FirmwareVersion::new(1, 0, 3),
        channels: heapless::Vec::from_iter(channels),
        tags: heapless::Vec::from_iter([Tag { key: bounded("key", "site")?, value: bounded("site", site)? }]),
    })
}

/// A simulated device: what it measures, and the one setting the server can change.
struct Sim {
    info: Device,
    noise: Noise,
    power_limit: Option<f64>,
}

impl Sim {
    fn sample(&mut self, t: u64) -> Vec<(ChannelId, Value)> {
        let x = t as f64;
        let mut out = Vec::new();
        for c in &self.info.channels {
            let value = match c.quantity {
                Quantity::Temperature => Value::from(round(21.0 + x * 0.05 + self.noise.next() * 0.3, 1)),
                Quantity::Humidity => Value::from(round(55.0 - x * 0.1 + self.noise.next(), 0)),
                Quantity::Power => {
                    let demand = round(1200.0 + 300.0 * (x / 6.0).sin() + self.noise.next() * 20.0, 0);
                    Value::from(self.power_limit.map_or(demand, |limit| demand.min(limit)))
                }
                Quantity::Energy => Value::Integer(3_600_000 + (t as i64) * 12_000),
                Quantity::Location => Value::Location(Location::new(
                    round(47.3769 + x * 0.0001, 6),
                    round(8.5417 + x * 0.00015, 6),
                )),
                Quantity::Motion => Value::Bool(t % 17 < 3),
                _ => Value::from(0.0),
            };
            out.push((c.id, value));
        }
        out
    }

    /// Applies a command and says how it went.
    fn obey(&mut self, command: &Command) -> CommandResult {
        match &command.action {
            CommandAction::SetConfig { key, value } if key == "limit_w" => match value.as_f64() {
                Some(limit) => {
                    self.power_limit = Some(limit);
                    CommandResult::Completed
                }
                None => CommandResult::Rejected(RejectReason::InvalidArgument),
            },
            _ => CommandResult::Rejected(RejectReason::Unsupported),
        }
    }
}

/// A device's life: announce itself, then report every tick and obey the commands it gets.
async fn run_device(
    mut sim: Sim,
    mut link: Link,
    pace: Duration,
) -> Result<(), Box<dyn Error + Send + Sync>> {
    let id = sim.info.id;
    link.subscribe(RouteFilter::exact(Route::new(RouteKind::Commands, id))).await?;
    let mut rx = [0u8; limits::MAX_FRAME];
    let mut seq = 0u32;
    send_frame(&mut link, &Frame::new(id, seq, Message::DeviceInfo(sim.info.clone()))).await?;
    for t in 0..TICKS {
        let at = Timestamp(START.0 + t * TICK_MS);
        while let Some(frame) = try_receive_frame(&mut link, &mut rx)? {
            if let Message::Command(cmd) = frame.message {
                let ack = CommandAck { command: cmd.id, at, result: sim.obey(&cmd) };
                seq += 1;
                send_frame(&mut link, &Frame::new(id, seq, Message::Ack(ack))).await?;
            }
        }
        seq += 1;
        let readings = sim.sample(t).into_iter().map(|(c, v)| Reading::new(c, at, v));
        let frame = Frame::new(id, seq, Message::Readings(heapless::Vec::from_iter(readings)));
        send_frame(&mut link, &frame).await?;
        // Let the server run between ticks; over a network, leave time for commands to come.
        tokio::time::sleep(pace).await;
        tokio::task::yield_now().await;
    }
    // Everything sent is delivered (MQTT: acknowledged by the broker) before the device leaves.
    link.close().await?;
    Ok(())
}

fn show(v: &Value) -> String {
    match v {
        Value::Location(l) => format!("{:.4},{:.4}", l.lat.to_f64(), l.lon.to_f64()),
        Value::State(s) => s.to_string(),
        Value::Bool(b) => b.to_string(),
        other => other.as_f64().map_or_else(String::new, |x| format!("{x}")),
    }
}

fn clock(t: Timestamp) -> String {
    let s = (t.0 - START.0) / 1000;
    format!("00:{:02}:{:02}", s / 60, s % 60)
}

/// What the server saw, for the report.
#[derive(Default)]
struct Seen {
    devices: BTreeMap<DeviceId, Device>,
    channels: BTreeMap<(DeviceId, ChannelId), (u32, Value)>,
    log: Vec<String>,
    frames: u32,
    readings: usize,
}

/// The server: frames in, rules run, alerts logged, commands out. A bad frame is logged and
/// skipped. It stops once `done()` and the link has been quiet for `quiet`.
async fn serve(link: Link, done: impl Fn() -> bool, quiet: Duration) -> Result<Seen, Box<dyn Error>> {
    let mut engine = Engine::new(EngineConfig::default());
    engine.load(parse(RULES)?)?;
    let (mut tx, rx) = link.split();
    let mut frames = pin!(telemetra::frames::stream(rx));
    let (mut seen, mut now, mut events) = (Seen::default(), START, Vec::new());
    loop {
        let frame = match tokio::time::timeout(quiet, frames.next()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(Some(Err(e))) => {
                eprintln!("skipped: {e}");
                continue;
            }
            Ok(None) => break,
            Err(_) if done() => break,
            Err(_) => continue,
        };
        seen.frames += 1;
        match &frame.message {
            Message::DeviceInfo(info) => _ = seen.devices.insert(info.id, info.clone()),
            Message::Readings(rs) => {
                for r in rs {
                    now = now.max(r.at);
                    let entry =
                        seen.channels.entry((frame.device, r.channel)).or_insert((0, r.value.clone()));
                    *entry = (entry.0 + 1, r.value.clone());
                }
            }
            Message::Ack(ack) => seen.log.push(format!(
                "{}  ack       {:<11} command {} -> {:?}",
                clock(ack.at),
                frame.device.to_string(),
                ack.command.0,
                ack.result
            )),
            _ => {}
        }
        seen.readings += engine.ingest_frame(&frame, now, &mut events);
        for event in events.drain(..) {
            match event {
                Event::Alert(a) => seen.log.push(format!(
                    "{}  alert     {:<11} {:<10} {:<7?} {:?} {} {}",
                    clock(a.at),
                    a.device.to_string(),
                    a.rule.as_str(),
                    a.state,
                    a.severity,
                    a.message.as_str(),
                    a.value.as_ref().map(show).unwrap_or_default()
                )),
                Event::Command { rule, device, action } => {
                    let id = CommandId(seen.log.len() as u32);
                    let cmd = Command {
                        id,
                        issued_at: now,
                        expires_at: now.checked_add(Duration::from_secs(60)),
                        action,
                    };
                    seen.log.push(format!(
                        "{}  command   {:<11} {:<10} {} {:?}",
                        clock(now),
                        device.to_string(),
                        rule.as_str(),
                        id.0,
                        cmd.action
                    ));
                    // Acknowledged by the transport's peer (MQTT: PUBACK) before we go on.
                    send_frame_acked(&mut tx, &Frame::new(device, id.0, Message::Command(cmd))).await?;
                }
                Event::Emit { .. } => {}
            }
        }
    }
    tx.close().await?;
    Ok(seen)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    // The one line that picks the transport: a URL.
    let url = std::env::args().nth(1).unwrap_or_else(|| "memory://quickstart".to_string());
    let networked = !url.starts_with("memory://");
    let pace = if networked { Duration::from_millis(20) } else { Duration::ZERO };

    let mut server = Link::open(&url, Role::Server("telemetra-quickstart")).await?;
    for kind in [RouteKind::Info, RouteKind::Readings, RouteKind::Acks] {
        server.subscribe(RouteFilter::kind(kind)).await?;
    }

    let fleet = [
        (
            device(
                0x1001,
                "th-sensor-v2",
                "greenhouse-2",
                vec![
                    channel(1, "temperature", Quantity::Temperature, Unit::Celsius)?,
                    channel(2, "humidity", Quantity::Humidity, Unit::RelativeHumidity)?,
                ],
            )?,
            11,
        ),
        (
            device(
                0x2002,
                "power-meter",
                "plant",
                vec![
                    channel(1, "power", Quantity::Power, Unit::Watt)?,
                    channel(2, "energy", Quantity::Energy, Unit::Joule)?,
                ],
            )?,
            22,
        ),
        (
            device(
                0x3003,
                "tracker",
                "van-7",
                vec![
                    channel(1, "position", Quantity::Location, Unit::None)?,
                    channel(2, "moving", Quantity::Motion, Unit::None)?,
                ],
            )?,
            33,
        ),
    ];
    let mut tasks = Vec::new();
    for (info, seed) in fleet {
        let sim = Sim { info, noise: Noise(seed), power_limit: None };
        let link = Link::open(&url, Role::Device(sim.info.id)).await?;
        tasks.push(tokio::spawn(run_device(sim, link, pace)));
    }

    // Serve until every device is done and, over a network, the link has been quiet for
    // half a second (frames may still be on their way).
    let quiet = Duration::from_millis(if networked { 500 } else { 50 });
    let seen = serve(server, || tasks.iter().all(|t| t.is_finished()), quiet).await?;
    for t in tasks {
        t.await?.map_err(|e| e.to_string())?;
    }

    println!(
        "{:<6} {:<13} {:<12} {:<12} {:>5} {:>6} {:>16}",
        "device", "model", "channel", "quantity", "unit", "count", "last"
    );
    for ((dev, ch), (count, last)) in &seen.channels {
        let info = seen.devices.get(dev);
        let spec = info.and_then(|d| d.channel(*ch));
        let (name, quantity, unit) = spec.map_or(("?".into(), "?".into(), ""), |s| {
            (s.name.to_string(), format!("{:?}", s.quantity), s.unit.symbol())
        });
        let model = info.map_or("?", |d| d.model.as_str());
        println!(
            "{:<6} {model:<13} {name:<12} {quantity:<12} {unit:>5} {count:>6} {:>16}",
            dev.to_string(),
            show(last)
        );
    }
    println!("\nrules:{RULES}");
    for line in &seen.log {
        println!("{line}");
    }
    println!("\n{} frames, {} readings over {url}", seen.frames, seen.readings);
    Ok(())
}

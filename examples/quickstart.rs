//! The whole cycle in one process: simulated devices describe themselves and report readings as
//! telemetra frames over the in-process memory transport; a server decodes them, runs a rule
//! set, prints the alerts, and sends commands back; the devices obey and acknowledge.
//!
//! ```text
//! cargo run --example quickstart                                # in process (memory://)
//! cargo run --example quickstart -- mqtt://127.0.0.1:1883       # through an MQTT broker
//! ```
//!
//! To move this onto a network, only the URL changes: every endpoint is a
//! [`Link`](telemetra::transports::link::Link) opened from it.

use std::collections::BTreeMap;
use std::error::Error;
use std::time::Duration;

use telemetra::codec::{Frame, Message, limits};
use telemetra::frames::send_frame;
use telemetra::heapless;
use telemetra::rules::{Engine, EngineConfig, Event, parse};
use telemetra::text::bounded;
use telemetra::transports::link::{Link, Role};
use telemetra::{
    AlertState, ChannelId, ChannelSpec, Command, CommandAck, CommandAction, CommandId, CommandResult, Device,
    DeviceId, FirmwareVersion, Location, Quantity, Reading, Route, RouteFilter, RouteKind, Tag, Timestamp,
    Transport, Unit, Value,
};

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
                Quantity::Temperature => Value::Number(round(21.0 + x * 0.05 + self.noise.next() * 0.3, 1)),
                Quantity::Humidity => Value::Number(round(55.0 - x * 0.1 + self.noise.next(), 0)),
                Quantity::Power => {
                    let demand = round(1200.0 + 300.0 * (x / 6.0).sin() + self.noise.next() * 20.0, 0);
                    Value::Number(self.power_limit.map_or(demand, |limit| demand.min(limit)))
                }
                Quantity::Energy => Value::Integer(3_600_000 + (t as i64) * 12_000),
                Quantity::Location => Value::Location(Location {
                    lat: round(47.3769 + x * 0.0001, 6),
                    lon: round(8.5417 + x * 0.00015, 6),
                    alt: None,
                }),
                Quantity::Motion => Value::Bool(t % 17 < 3),
                _ => Value::Number(0.0),
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
                None => CommandResult::Rejected(telemetra::RejectReason::InvalidArgument),
            },
            _ => CommandResult::Rejected(telemetra::RejectReason::Unsupported),
        }
    }
}

/// A device's life: announce itself, then report every tick and obey the commands it gets.
async fn run_device(mut sim: Sim, mut link: Link, pace: Duration) -> Result<(), Box<dyn Error>> {
    let id = sim.info.id;
    link.subscribe(RouteFilter::exact(Route::new(RouteKind::Commands, id))).await?;
    let mut rx = [0u8; limits::MAX_FRAME];
    let mut seq = 0u32;
    let info = Frame::new(id, seq, Message::DeviceInfo(sim.info.clone()));
    send_frame(&mut link, &info).await?;
    for t in 0..TICKS {
        let at = Timestamp(START.0 + t * TICK_MS);
        while let Some(delivery) = link.try_receive(&mut rx) {
            let frame = Frame::decode(&rx[..delivery?.len])?;
            if let Message::Command(cmd) = frame.message {
                let ack = CommandAck { command: cmd.id, at, result: sim.obey(&cmd) };
                seq += 1;
                let reply = Frame::new(id, seq, Message::Ack(ack));
                send_frame(&mut link, &reply).await?;
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
    link.close().await;
    Ok(())
}

#[derive(Default)]
struct Row {
    count: u32,
    min: f64,
    max: f64,
    last: Option<Value>,
}

fn show(v: &Value) -> String {
    match v {
        Value::Number(n) => format!("{n}"),
        Value::Integer(i) => format!("{i}"),
        Value::Bool(b) => format!("{b}"),
        Value::Location(l) => format!("{:.4},{:.4}", l.lat, l.lon),
        Value::State(s) => s.to_string(),
    }
}

fn clock(t: Timestamp) -> String {
    let s = (t.0 - START.0) / 1000;
    format!("00:{:02}:{:02}", s / 60, s % 60)
}

/// The server: decodes frames, keeps a table, runs the rules, sends commands.
struct Server {
    link: Link,
    engine: Engine,
    devices: BTreeMap<DeviceId, Device>,
    table: BTreeMap<(DeviceId, ChannelId), Row>,
    log: Vec<String>,
    next_command: u32,
    now: Timestamp,
    frames: u32,
    bytes: usize,
    readings: u32,
}

impl Server {
    async fn handle(&mut self, bytes: &[u8]) -> Result<(), Box<dyn Error>> {
        let frame = Frame::decode(bytes)?;
        self.frames += 1;
        self.bytes += bytes.len();
        let mut events = Vec::new();
        match frame.message {
            Message::DeviceInfo(info) => {
                self.engine.register(&info, self.now);
                self.devices.insert(info.id, info);
            }
            Message::Readings(rs) => {
                for r in rs {
                    self.readings += 1;
                    self.now = self.now.max(r.at);
                    self.engine.ingest_reading(frame.device, r.channel, r.at, &r.value, &mut events);
                    let row = self.table.entry((frame.device, r.channel)).or_insert(Row {
                        min: f64::INFINITY,
                        max: f64::NEG_INFINITY,
                        ..Row::default()
                    });
                    row.count += 1;
                    if let Some(x) = r.value.as_f64() {
                        row.min = row.min.min(x);
                        row.max = row.max.max(x);
                    }
                    row.last = Some(r.value);
                }
            }
            Message::Ack(ack) => {
                self.log.push(format!(
                    "{}  ack       {:<11} command {} -> {:?}",
                    clock(ack.at),
                    frame.device.to_string(),
                    ack.command.0,
                    ack.result
                ));
            }
            _ => {}
        }
        for event in events {
            match event {
                Event::Alert(a) => {
                    let state = match a.state {
                        AlertState::Raised => "RAISED",
                        AlertState::Acknowledged => "acked",
                        AlertState::Cleared => "cleared",
                    };
                    let value = a.value.map(|v| show(&v)).unwrap_or_default();
                    self.log.push(format!(
                        "{}  alert     {:<11} {:<10} {:<7} {:?} {} {}",
                        clock(a.at),
                        a.device.to_string(),
                        a.rule.as_str(),
                        state,
                        a.severity,
                        a.message.as_str(),
                        value
                    ));
                }
                Event::Command { rule, device, action } => {
                    self.next_command += 1;
                    let cmd = Command {
                        id: CommandId(self.next_command),
                        issued_at: self.now,
                        expires_at: self.now.checked_add(std::time::Duration::from_secs(60)),
                        action,
                    };
                    self.log.push(format!(
                        "{}  command   {:<11} {:<10} {} {:?}",
                        clock(self.now),
                        device.to_string(),
                        rule.as_str(),
                        cmd.id.0,
                        cmd.action
                    ));
                    let frame = Frame::new(device, self.next_command, Message::Command(cmd));
                    send_frame(&mut self.link, &frame).await?;
                }
                Event::Emit { .. } => {}
            }
        }
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    // The one line that picks the transport: a URL.
    let url = std::env::args().nth(1).unwrap_or_else(|| "memory://quickstart".to_string());
    let networked = !url.starts_with("memory://");
    let pace = if networked { Duration::from_millis(20) } else { Duration::ZERO };

    let mut engine = Engine::new(EngineConfig::default());
    engine.load(parse(RULES)?)?;
    let mut server = Server {
        link: Link::open(&url, Role::Server("telemetra-quickstart")).await?,
        engine,
        devices: BTreeMap::new(),
        table: BTreeMap::new(),
        log: Vec::new(),
        next_command: 0,
        now: START,
        frames: 0,
        bytes: 0,
        readings: 0,
    };
    for kind in [RouteKind::Info, RouteKind::Readings, RouteKind::Acks] {
        server.link.subscribe(RouteFilter::kind(kind)).await?;
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
        tasks.push(tokio::spawn(async move { run_device(sim, link, pace).await.map_err(|e| e.to_string()) }));
    }

    // Serve until every device is done and nothing is left in flight.
    let mut buf = [0u8; limits::MAX_FRAME];
    loop {
        let mut idle = true;
        while let Some(delivery) = server.link.try_receive(&mut buf) {
            let len = delivery?.len;
            server.handle(&buf[..len]).await?;
            idle = false;
        }
        let done = tasks.iter().all(|t| t.is_finished());
        if !networked {
            if idle && done {
                break;
            }
            tokio::task::yield_now().await;
            continue;
        }
        // Over a network frames may still be on their way: after the devices are done, stop
        // once the link has been quiet for half a second.
        let wait = Duration::from_millis(if done { 500 } else { 20 });
        match tokio::time::timeout(wait, server.link.receive(&mut buf)).await {
            Ok(delivery) => {
                let len = delivery?.len;
                server.handle(&buf[..len]).await?;
            }
            Err(_) if done => break,
            Err(_) => {}
        }
    }
    server.link.close().await;
    for t in tasks {
        t.await??;
    }

    println!(
        "{:<6} {:<13} {:<12} {:<12} {:>5} {:>6} {:>16} {:>10} {:>10}",
        "device", "model", "channel", "quantity", "unit", "count", "last", "min", "max"
    );
    for ((dev, ch), row) in &server.table {
        let info = server.devices.get(dev);
        let spec = info.and_then(|d| d.channel(*ch));
        let (name, quantity, unit) = spec.map_or(("?".into(), "?".into(), ""), |s| {
            (s.name.to_string(), format!("{:?}", s.quantity), s.unit.symbol())
        });
        let range = |v: f64| if v.is_finite() { format!("{v}") } else { "-".into() };
        println!(
            "{:<6} {:<13} {:<12} {:<12} {:>5} {:>6} {:>16} {:>10} {:>10}",
            dev.to_string(),
            info.map_or("?", |d| d.model.as_str()),
            name,
            quantity,
            unit,
            row.count,
            row.last.as_ref().map_or("-".into(), show),
            range(row.min),
            range(row.max)
        );
    }
    println!("\nrules:{RULES}");
    for line in &server.log {
        println!("{line}");
    }
    println!(
        "\n{} frames, {} readings, {} bytes on the wire ({:.1} bytes per frame) over {url}",
        server.frames,
        server.readings,
        server.bytes,
        server.bytes as f64 / f64::from(server.frames)
    );
    Ok(())
}

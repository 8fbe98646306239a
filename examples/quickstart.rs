//! The whole cycle in one process: simulated devices describe themselves and report readings,
//! which are encoded as telemetra frames, carried over the in-process memory transport,
//! decoded by a server and printed as a table.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! To move this onto a network, only the line that builds the transport changes.

use std::collections::BTreeMap;
use std::error::Error;

use telemetra::codec::{Frame, Message, limits};
use telemetra::heapless;
use telemetra::text::bounded;
use telemetra::transports::memory::{MemoryHub, MemoryTransport};
use telemetra::{
    ChannelId, ChannelSpec, Device, DeviceId, FirmwareVersion, Location, Quantity, Reading, Route,
    RouteFilter, RouteKind, Tag, Timestamp, Transport, Unit, Value,
};

/// Simulated time: ten-second ticks from 2026-11-26T00:00:00Z. Nothing reads a clock.
const START: Timestamp = Timestamp(1_795_651_200_000);
const TICK_MS: u64 = 10_000;
const TICKS: u64 = 60;

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

/// What each simulated device measures at tick `t`.
fn sample(device: &Device, t: u64, noise: &mut Noise) -> Vec<(ChannelId, Value)> {
    let x = t as f64;
    device
        .channels
        .iter()
        .map(|c| {
            let value = match c.quantity {
                Quantity::Temperature => Value::Number(round(21.0 + x * 0.05 + noise.next() * 0.3, 1)),
                Quantity::Humidity => Value::Number(round(55.0 - x * 0.1 + noise.next(), 0)),
                Quantity::Power => {
                    Value::Number(round(1200.0 + 300.0 * (x / 6.0).sin() + noise.next() * 20.0, 0))
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
            (c.id, value)
        })
        .collect()
}

/// A device's life: announce itself, then report every tick.
async fn run_device(info: Device, mut link: MemoryTransport, seed: u64) -> Result<(), Box<dyn Error>> {
    let mut buf = [0u8; limits::MAX_FRAME];
    let mut noise = Noise(seed);
    let mut seq = 0u32;
    let info_frame = Frame::new(info.id, seq, Message::DeviceInfo(info.clone()));
    link.send(Route::new(RouteKind::Info, info.id), info_frame.encode(&mut buf)?).await?;
    for t in 0..TICKS {
        seq += 1;
        let at = Timestamp(START.0 + t * TICK_MS);
        let readings = sample(&info, t, &mut noise).into_iter().map(|(c, v)| Reading::new(c, at, v));
        let frame = Frame::new(info.id, seq, Message::Readings(heapless::Vec::from_iter(readings)));
        link.send(Route::new(RouteKind::Readings, info.id), frame.encode(&mut buf)?).await?;
    }
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

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    // The one line that picks the transport.
    let hub = MemoryHub::new(1024);

    let mut server = hub.connect();
    server.subscribe(RouteFilter::kind(RouteKind::Info)).await?;
    server.subscribe(RouteFilter::kind(RouteKind::Readings)).await?;

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
    let tasks: Vec<_> = fleet
        .into_iter()
        .map(|(info, seed)| {
            let link = hub.connect();
            tokio::spawn(async move { run_device(info, link, seed).await.map_err(|e| e.to_string()) })
        })
        .collect();
    for t in tasks {
        t.await??;
    }

    // The server side: decode every frame and keep a summary per (device, channel).
    let mut devices: BTreeMap<DeviceId, Device> = BTreeMap::new();
    let mut table: BTreeMap<(DeviceId, ChannelId), Row> = BTreeMap::new();
    let (mut frames, mut bytes, mut readings) = (0u32, 0usize, 0u32);
    let mut buf = [0u8; limits::MAX_FRAME];
    while let Some(delivery) = server.try_receive(&mut buf) {
        let delivery = delivery?;
        let frame = Frame::decode(&buf[..delivery.len])?;
        frames += 1;
        bytes += delivery.len;
        match frame.message {
            Message::DeviceInfo(info) => {
                devices.insert(info.id, info);
            }
            Message::Readings(rs) => {
                for r in rs {
                    readings += 1;
                    let row = table.entry((frame.device, r.channel)).or_insert(Row {
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
            _ => {}
        }
    }

    println!(
        "{:<6} {:<13} {:<12} {:<12} {:>5} {:>6} {:>16} {:>10} {:>10}",
        "device", "model", "channel", "quantity", "unit", "count", "last", "min", "max"
    );
    for ((dev, ch), row) in &table {
        let info = devices.get(dev);
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
    println!(
        "\n{frames} frames, {readings} readings, {bytes} bytes on the wire ({:.1} bytes per frame) over memory://",
        bytes as f64 / frames as f64
    );
    Ok(())
}

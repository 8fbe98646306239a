//! The whole cycle in one process: simulated devices describe themselves and report readings as
//! telemetra frames over the in-process memory transport; a server (`telemetra-server`'s
//! ingest pipeline) stores them in SQLite, runs a rule set, raises alerts and sends commands
//! back; the devices obey and acknowledge; the report is read back from the store.
//!
//! ```text
//! cargo run --example quickstart                                # in process (memory://)
//! cargo run --example quickstart -- mqtt://127.0.0.1:1883       # through an MQTT broker
//! cargo run --example quickstart -- coap://127.0.0.1:5683       # over CoAP (the server binds it)
//! ```
//!
//! To move this onto a network, only the URL changes: every endpoint is a
//! [`Link`](telemetra::transports::link::Link) opened from it.

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use telemetra::codec::limits;
use telemetra::heapless;
use telemetra::model::text::bounded;
use telemetra::model::{FirmwareVersion, Location, RejectReason, Tag};
use telemetra::prelude::*;
use telemetra::rules::parse;
use telemetra_server::ingest::{Ingest, IngestConfig, IngestStats};
use telemetra_server::store::{SqliteStore, Store};

/// Simulated time: ten-second ticks from 2026-11-26T00:00:00Z. Nothing reads the system's clock.
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
    clock: SimClock,
    pace: Duration,
) -> Result<(), Box<dyn Error + Send + Sync>> {
    let id = sim.info.id;
    link.subscribe(RouteFilter::exact(Route::new(RouteKind::Commands, id))).await?;
    let mut rx = [0u8; limits::MAX_FRAME];
    let mut seq = 0u32;
    // A command may come twice (sent again until taken, redelivered after a reconnect), always
    // with its id: carried out once, answered every time.
    let mut answered = telemetra::model::answered::Answered::<8>::new();
    send_frame(&mut link, &Frame::new(id, seq, Message::DeviceInfo(sim.info.clone()))).await?;
    for t in 0..TICKS {
        let at = Timestamp(START.0 + t * TICK_MS);
        clock.advance(at);
        while let Some(frame) = try_receive_frame(&mut link, &mut rx)? {
            if let Message::Command(cmd) = frame.message {
                let result = answered.answer(cmd.id, || sim.obey(&cmd));
                let ack = CommandAck { command: cmd.id, at, result };
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
        other => other.as_f64().map_or_else(String::new, |x| format!("{}", round(x, 2))),
    }
}

fn clock(t: Timestamp) -> String {
    let s = (t.0 - START.0) / 1000;
    format!("00:{:02}:{:02}", s / 60, s % 60)
}

/// The simulation's time, which the devices move on and the server reads.
#[derive(Clone)]
struct SimClock(Arc<AtomicU64>);

impl SimClock {
    fn advance(&self, to: Timestamp) {
        self.0.fetch_max(to.0, Ordering::Relaxed);
    }

    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::Relaxed))
    }
}

/// The server: `telemetra-server`'s ingest pipeline on `link`, storing into `store` and
/// running [`RULES`]; it decodes (a bad frame is logged, counted and skipped), stores each
/// frame once, raises and clears alerts, and sends the commands the rules decide. It stops
/// once `done()` and nothing has arrived for `quiet`.
async fn serve(
    link: Link,
    store: Arc<SqliteStore>,
    clock: SimClock,
    done: impl Fn() -> bool + Send,
    quiet: Duration,
) -> Result<IngestStats, Box<dyn Error>> {
    let mut engine = Engine::new(EngineConfig::default());
    engine.load(parse(RULES)?)?;
    let ingest = Ingest::new(store, engine, IngestConfig::default()).with_clock(move || clock.now());
    let stats = ingest.stats();
    let stop = async move {
        let mut before = stats.get();
        loop {
            tokio::time::sleep(quiet).await;
            let after = stats.get();
            if done() && after == before {
                return;
            }
            before = after;
        }
    };
    Ok(ingest.run(link, stop).await?)
}

/// What the server stored, as the report prints it: one line per device and channel, then
/// alerts, commands and acknowledgements in time order.
async fn report(store: &SqliteStore, stats: &IngestStats, url: &str) -> Result<(), Box<dyn Error>> {
    println!(
        "{:<6} {:<13} {:<12} {:<12} {:>5} {:>6} {:>16}",
        "device", "model", "channel", "quantity", "unit", "count", "last"
    );
    let end = Timestamp(START.0 + TICKS * TICK_MS);
    let mut log = Vec::new();
    for row in store.devices().await? {
        let Some(info) = row.info else { continue };
        let history = store.readings(info.id, START, end, u32::MAX).await?;
        for latest in store.latest(info.id).await? {
            let count = history.iter().filter(|r| r.channel == latest.channel).count();
            let (name, quantity, unit) =
                info.channel(latest.channel).map_or(("?".into(), "?".into(), ""), |s| {
                    (s.name.to_string(), format!("{:?}", s.quantity), s.unit.symbol())
                });
            println!(
                "{:<6} {:<13} {name:<12} {quantity:<12} {unit:>5} {count:>6} {:>16}",
                info.id.to_string(),
                info.model.as_str(),
                show(&latest.value)
            );
        }
        for c in store.commands(info.id).await? {
            let (id, action) = (c.command.id.0, &c.command.action);
            log.push((
                c.command.issued_at,
                1,
                format!("command   {:<11} {id} {action:?}", info.id.to_string()),
            ));
            if let Some(ack) = c.ack {
                let line = format!("ack       {:<11} command {id} -> {:?}", info.id.to_string(), ack.result);
                log.push((ack.at, 2, line));
            }
        }
    }
    for a in store.alerts(None, u32::MAX).await? {
        let value = a.value.as_ref().map(show).unwrap_or_default();
        let line = format!(
            "alert     {:<11} {:<10} {:<7?} {:?} {} {value}",
            a.device.to_string(),
            a.rule,
            a.state,
            a.severity,
            a.message
        );
        log.push((a.at, 0, line));
    }
    log.sort();
    println!("\nrules:{RULES}");
    for (at, _, line) in &log {
        println!("{}  {line}", clock(*at));
    }
    println!(
        "\nstored: {} readings, {} alert transitions, {} command{} ({} frames) over {url}",
        stats.readings,
        stats.alerts,
        stats.commands,
        if stats.commands == 1 { "" } else { "s" },
        stats.frames
    );

    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    // The one line that picks the transport: a URL.
    let url = std::env::args().nth(1).unwrap_or_else(|| "memory://quickstart".to_string());
    let networked = !url.starts_with("memory://");
    let pace = if networked { Duration::from_millis(20) } else { Duration::ZERO };

    let server = Link::open(&url, Role::Server("telemetra-quickstart")).await?;
    let store = Arc::new(SqliteStore::in_memory()?);
    let sim_clock = SimClock(Arc::new(AtomicU64::new(START.0)));

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
        tasks.push(tokio::spawn(run_device(sim, link, sim_clock.clone(), pace)));
    }

    // Serve until every device is done and, over a network, the link has been quiet for
    // half a second (frames may still be on their way).
    let quiet = Duration::from_millis(if networked { 500 } else { 50 });
    let done = || tasks.iter().all(|t| t.is_finished());
    let stats = serve(server, store.clone(), sim_clock, done, quiet).await?;
    for t in tasks {
        t.await?.map_err(|e| e.to_string())?;
    }
    report(&store, &stats, &url).await
}

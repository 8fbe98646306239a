//! The telemetra server: devices' frames from a transport into a store, through the rules, with
//! the commands the rules decide sent back.
//!
//! ```text
//! cargo run --features server --example server -- \
//!     [--listen URL] [--store PATH] [--rules FILE] [--simulate N] [--for SECONDS]
//! ```
//!
//! `--listen` is any transport URL (`mqtt://127.0.0.1:1883`, `coap://0.0.0.0:5683`, ...); the
//! default `memory://server` is in-process, with `--simulate` devices (3 by default) on it.
//! `--store` is a SQLite file (default: in memory). It runs until Ctrl-C or for `--for`
//! seconds, then prints what the store holds: each device's status and latest values, the
//! alerts, the commands and their acknowledgements.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use telemetra::codec::{Frame, Message};
use telemetra::model::FirmwareVersion;
use telemetra::model::text::bounded;
use telemetra::prelude::*;
use telemetra::rules::Engine;
use telemetra::server::ingest::{Ingest, IngestConfig, now};
use telemetra::server::store::{SqliteStore, Store};
use telemetra::transports::link::{Link, Role};

const RULES: &str = r#"
rule overheat: when temperature > 30 clear when temperature < 27
    then alert major "Too hot", command set cooling = 1
"#;

struct Args {
    listen: String,
    store: Option<String>,
    rules: String,
    simulate: u64,
    seconds: Option<u64>,
}

fn args() -> Result<Args, Box<dyn Error>> {
    let mut a = Args {
        listen: "memory://server".into(),
        store: None,
        rules: RULES.into(),
        simulate: 0,
        seconds: None,
    };
    let mut simulate = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => a.listen = value()?,
            "--store" => a.store = Some(value()?),
            "--rules" => a.rules = std::fs::read_to_string(value()?)?,
            "--simulate" => simulate = Some(value()?.parse()?),
            "--for" => a.seconds = Some(value()?.parse()?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    a.simulate = simulate.unwrap_or(if a.listen.starts_with("memory://") { 3 } else { 0 });
    Ok(a)
}

/// A simulated device: a temperature that drifts up until the server asks for cooling.
async fn device(
    url: String,
    id: u64,
    until: tokio::time::Instant,
) -> Result<(), Box<dyn Error + Send + Sync>> {
    let device = DeviceId(id);
    let (mut tx, mut rx) = Link::open(&url, Role::Device(device)).await?.split();
    rx.subscribe(RouteFilter::exact(Route::new(RouteKind::Commands, device))).await?;
    let info = Device {
        id: device,
        model: bounded("model", "sim-thermo")?,
        firmware: FirmwareVersion::new(1, 0, 0),
        channels: [ChannelSpec {
            id: ChannelId(1),
            name: bounded("channel", "temperature")?,
            quantity: Quantity::Temperature,
            unit: Unit::Celsius,
            period_ms: 200,
        }]
        .into_iter()
        .collect(),
        tags: Default::default(),
    };
    let send = |seq: u32, message: Message| Frame::new(device, seq, message).to_vec();
    tx.send_acked(Route::new(RouteKind::Info, device), &send(1, Message::DeviceInfo(info))?).await?;
    let (mut seq, mut celsius, mut cooling) = (2u32, 24.0 + id as f64, false);
    let mut buf = vec![0u8; telemetra::codec::limits::MAX_FRAME];
    while tokio::time::Instant::now() < until {
        celsius += if cooling { -0.8 } else { 0.5 };
        let reading = Reading::new(ChannelId(1), now(), (celsius * 10.0f64).round() / 10.0);
        tx.send(
            Route::new(RouteKind::Readings, device),
            &send(seq, Message::Readings([reading].into_iter().collect()))?,
        )
        .await?;
        seq += 1;
        if let Ok(Ok(d)) = tokio::time::timeout(Duration::from_millis(200), rx.receive(&mut buf)).await
            && let Ok(Frame { message: Message::Command(cmd), .. }) = Frame::decode(&buf[..d.len])
        {
            cooling = true;
            let ack = CommandAck { command: cmd.id, at: now(), result: CommandResult::Completed };
            tx.send_acked(Route::new(RouteKind::Acks, device), &send(seq, Message::Ack(ack))?).await?;
            seq += 1;
        }
        if celsius < 26.0 {
            cooling = false;
        }
    }
    tx.close().await?;
    Ok(())
}

fn show(v: &Value) -> String {
    v.as_f64().map_or_else(|| format!("{v:?}"), |x| format!("{x}"))
}

async fn report(store: &SqliteStore) -> Result<(), Box<dyn Error>> {
    for d in store.devices().await? {
        let model = d.info.as_ref().map_or("?", |i| i.model.as_str()).to_owned();
        let status = d.status.map_or("?".to_owned(), |(s, _)| format!("{s:?}"));
        let latest: Vec<String> = store
            .latest(d.device)
            .await?
            .iter()
            .map(|l| format!("ch{}={}", l.channel.0, show(&l.value)))
            .collect();
        let commands = store.commands(d.device).await?;
        let acked = commands.iter().filter(|c| c.ack.is_some()).count();
        println!(
            "device {:<4} {model:<11} {status:<8} {}  commands {} (acknowledged {acked})",
            d.device.to_string(),
            latest.join(" "),
            commands.len()
        );
    }
    for a in store.alerts(None, 20).await? {
        println!(
            "alert  {:<4} {:<9} {:?} {:?} {}",
            a.device.to_string(),
            a.rule,
            a.state,
            a.severity,
            a.message
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let a = args()?;
    let store = Arc::new(match &a.store {
        Some(path) => SqliteStore::open(path)?,
        None => SqliteStore::in_memory()?,
    });
    let mut engine = Engine::new(Default::default());
    engine.load(telemetra::rules::parse(&a.rules)?)?;
    let ingest = Ingest::new(store.clone(), engine, IngestConfig::default());
    let link = Link::open(&a.listen, Role::Server("tm-server")).await?;
    let seconds = a.seconds;
    let stop = async move {
        match seconds {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    let server = tokio::spawn(ingest.run(link, stop));
    let until = tokio::time::Instant::now()
        + Duration::from_secs(a.seconds.unwrap_or(u64::MAX / 4).saturating_sub(1));
    let devices: Vec<_> =
        (1..=a.simulate).map(|id| tokio::spawn(device(a.listen.clone(), id, until))).collect();
    println!("telemetra server on {} ({} simulated devices)", a.listen, a.simulate);
    for d in devices {
        if let Err(e) = d.await? {
            eprintln!("simulated device: {e}");
        }
    }
    let end = server.await??;
    println!(
        "frames {} (bad {}, duplicates {}), readings {}, alerts {}, commands {}",
        end.frames, end.bad_frames, end.duplicates, end.readings, end.alerts, end.commands
    );
    report(&store).await
}

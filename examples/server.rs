//! The telemetra server: devices' frames from a transport into a store, through the rules, with
//! the commands the rules decide sent back.
//!
//! ```text
//! cargo run --example server -- \
//!     [--listen URL] [--store PATH] [--rules FILE] [--simulate N] [--for SECONDS] \
//!     [--dashboard ADDRESS | --dashboard off]
//! cargo run --features nats --example server -- --nats nats://127.0.0.1:4222[,URL...] \
//!     [--name NAME] [--partitions N] [--replicas N] [--simulate N] \
//!     [--store PATH | --store postgres://...] [--for SECONDS]
//! ```
//!
//! `--listen` is any transport URL (`mqtt://127.0.0.1:1883`, `coap://0.0.0.0:5683`, ...); the
//! default `memory://server` is in-process, with `--simulate` devices (3 by default) on it.
//! `--store` is a SQLite file (default: in memory). It runs until Ctrl-C or for `--for`
//! seconds, then prints what the store holds: each device's status and latest values, the
//! alerts, the commands and their acknowledgements.
//!
//! The dashboard is served on `--dashboard` (default `127.0.0.1:8080`, loopback only; with
//! `--nats` only when given, and then it only shows: acting needs the instance that owns a
//! device's partition): the devices, their live values and charts, the alarms to acknowledge
//! and clear, commands to send, the rules. Log in as `admin` with the password in
//! `TELEMETRA_PASSWORD`, or, when it is not set, with the one printed at start (made at
//! random, shown once, kept nowhere).
//!
//! `--nats` runs it as one instance of many on NATS JetStream instead (feature `nats`): it
//! takes its share of the partitions of the devices' stream, as `NAME` (default: `server-`
//! and the process id), and stores into `--store`, a PostgreSQL connection string for instances
//! that share a database (feature `postgres`). The nats-server configuration needs the
//! partition mappings `telemetra_server::nats::partition::mappings` gives, and JetStream with
//! `--replicas` nodes (3 by default; 1 for a single server). `--simulate` devices publish into
//! JetStream on their routes' subjects, as a gateway would, and take commands from NATS.
//! `--print-mappings` prints the mappings block for `--partitions` and exits.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use telemetra::codec::{Frame, Message};
use telemetra::model::FirmwareVersion;
use telemetra::model::text::bounded;
use telemetra::prelude::*;
use telemetra::rules::Engine;
use telemetra::transports::link::{Link, Role};
use telemetra_server::dashboard::{Dashboard, DashboardConfig, Users};
use telemetra_server::ingest::{Ingest, IngestConfig, now};
use telemetra_server::store::{SqliteStore, Store};

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
    nats: Option<String>,
    name: String,
    partitions: u32,
    replicas: usize,
    print_mappings: bool,
    dashboard: Option<String>,
}

fn args() -> Result<Args, Box<dyn Error>> {
    let mut a = Args {
        listen: "memory://server".into(),
        store: None,
        rules: RULES.into(),
        simulate: 0,
        seconds: None,
        nats: None,
        name: format!("server-{}", std::process::id()),
        partitions: 16,
        replicas: 3,
        print_mappings: false,
        dashboard: None,
    };
    let mut dashboard = None;
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
            "--nats" => a.nats = Some(value()?),
            "--name" => a.name = value()?,
            "--partitions" => a.partitions = value()?.parse()?,
            "--replicas" => a.replicas = value()?.parse()?,
            "--print-mappings" => a.print_mappings = true,
            "--dashboard" => dashboard = Some(value()?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    a.simulate = simulate.unwrap_or(if a.listen.starts_with("memory://") { 3 } else { 0 });
    // On by default for one server; an instance of many (which would share the port) only
    // when asked.
    let default = a.nats.is_none().then(|| "127.0.0.1:8080".to_string());
    a.dashboard = dashboard.or(default).filter(|v| v != "off");
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
    let send = |seq: u32, message: Message| Frame::new(device, seq, message).to_vec();
    tx.send_acked(Route::new(RouteKind::Info, device), &send(1, Message::DeviceInfo(info(device)?))?).await?;
    let mut thermo = Thermo::new(id);
    let mut buf = vec![0u8; telemetra::codec::limits::MAX_FRAME];
    while tokio::time::Instant::now() < until {
        let (seq, reading) = thermo.reading();
        tx.send(Route::new(RouteKind::Readings, device), &send(seq, reading)?).await?;
        if let Ok(Ok(d)) = tokio::time::timeout(Duration::from_millis(200), rx.receive(&mut buf)).await
            && let Some((seq, ack)) = thermo.command(&buf[..d.len])
        {
            tx.send_acked(Route::new(RouteKind::Acks, device), &send(seq, ack)?).await?;
        }
    }
    tx.close().await?;
    Ok(())
}

/// The simulated thermometer: drifts up until told to cool, then down to 26 °C.
struct Thermo {
    seq: u32,
    celsius: f64,
    cooling: bool,
    /// A command comes again until the server records it sent: carried out once.
    answered: telemetra::model::answered::Answered<8>,
}

impl Thermo {
    fn new(id: u64) -> Thermo {
        Thermo { seq: 2, celsius: 24.0 + id as f64, cooling: false, answered: Default::default() }
    }

    fn next_seq(&mut self) -> u32 {
        self.seq += 1;
        self.seq - 1
    }

    /// The next reading and its frame's sequence number.
    fn reading(&mut self) -> (u32, Message) {
        self.celsius += if self.cooling { -0.8 } else { 0.5 };
        if self.celsius < 26.0 {
            self.cooling = false;
        }
        let reading = Reading::new(ChannelId(1), now(), (self.celsius * 10.0f64).round() / 10.0);
        (self.next_seq(), Message::Readings([reading].into_iter().collect()))
    }

    /// A command frame obeyed: its acknowledgement and the acknowledgement's sequence number.
    fn command(&mut self, bytes: &[u8]) -> Option<(u32, Message)> {
        let Ok(Frame { message: Message::Command(cmd), .. }) = Frame::decode(bytes) else { return None };
        let result = self.answered.answer(cmd.id, || {
            self.cooling = true;
            CommandResult::Completed
        });
        let ack = CommandAck { command: cmd.id, at: now(), result };
        Some((self.next_seq(), Message::Ack(ack)))
    }
}

/// A simulated device on NATS: frames into JetStream on its routes' subjects (the mapping
/// partitions them), commands from its commands subject.
#[cfg(feature = "nats")]
async fn nats_device(
    client: telemetra_server::nats::async_nats::Client,
    id: u64,
    until: tokio::time::Instant,
) -> Result<(), Box<dyn Error + Send + Sync>> {
    use futures_util::StreamExt;
    use telemetra_server::nats::async_nats::jetstream;
    use telemetra_server::nats::partition::subject;
    let device = DeviceId(id);
    let js = jetstream::new(client.clone());
    let mut commands = client.subscribe(subject(Route::new(RouteKind::Commands, device))).await?;
    let send =
        async |kind: RouteKind, seq: u32, message: Message| -> Result<(), Box<dyn Error + Send + Sync>> {
            let bytes = Frame::new(device, seq, message).to_vec()?;
            js.publish(subject(Route::new(kind, device)), bytes.into()).await?.await?;
            Ok(())
        };
    send(RouteKind::Info, 1, Message::DeviceInfo(info(device)?)).await?;
    let mut thermo = Thermo::new(id);
    while tokio::time::Instant::now() < until {
        let (seq, reading) = thermo.reading();
        send(RouteKind::Readings, seq, reading).await?;
        let command = tokio::time::timeout(Duration::from_millis(200), commands.next()).await;
        if let Ok(Some(m)) = command
            && let Some((seq, ack)) = thermo.command(&m.payload)
        {
            send(RouteKind::Acks, seq, ack).await?;
        }
    }
    Ok(())
}

/// The simulated devices' descriptor: one temperature channel.
fn info(device: DeviceId) -> Result<Device, Box<dyn Error + Send + Sync>> {
    Ok(Device {
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
    })
}

fn show(v: &Value) -> String {
    v.as_f64().map_or_else(|| format!("{v:?}"), |x| format!("{x}"))
}

async fn report(store: &impl Store) -> Result<(), Box<dyn Error>> {
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

/// A dashboard bound to `address`, its URL and login printed.
async fn dashboard<S: Store>(
    store: Arc<S>,
    silence: Duration,
    address: &str,
) -> Result<(Dashboard<S>, tokio::net::TcpListener), Box<dyn Error>> {
    let mut users = Users::new();
    let password = match std::env::var("TELEMETRA_PASSWORD") {
        Ok(p) if !p.is_empty() => {
            users.add("admin", &p)?;
            "the one in TELEMETRA_PASSWORD".to_string()
        }
        _ => format!("{} (set TELEMETRA_PASSWORD to choose it)", users.add_generated("admin")?),
    };
    let mut config = DashboardConfig::default();
    config.silence = silence;
    let listener =
        tokio::net::TcpListener::bind(address).await.map_err(|e| format!("--dashboard {address}: {e}"))?;
    println!("dashboard on http://{}/ : user admin, password {password}", listener.local_addr()?);
    Ok((Dashboard::new(store, users, config), listener))
}

/// Until Ctrl-C, or `seconds`.
async fn stop(seconds: Option<u64>) {
    match seconds {
        Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// One instance of many on NATS JetStream.
#[cfg(feature = "nats")]
async fn on_nats(a: Args, urls: String) -> Result<(), Box<dyn Error>> {
    use telemetra_server::nats::{NatsConfig, NatsInstance};
    let rules = telemetra::rules::parse(&a.rules)?;
    Engine::new(Default::default()).load(rules.clone())?;
    let shown_rules = rules.clone();
    let engine = move || {
        let mut engine = Engine::new(Default::default());
        // Loaded once above: the same rules load again.
        let _ = engine.load(rules.clone());
        engine
    };
    let urls: Vec<&str> = urls.split(',').collect();
    let client = telemetra_server::nats::async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(urls.as_slice())
        .await?;
    let mut config = NatsConfig::new(a.name.clone());
    config.partitions = a.partitions;
    config.replicas = a.replicas;
    // The stream before the simulated devices publish into it (the instance makes it too).
    let js = telemetra_server::nats::async_nats::jetstream::new(client.clone());
    telemetra_server::nats::ensure_stream(&js, &config).await?;
    let until = tokio::time::Instant::now()
        + Duration::from_secs(a.seconds.unwrap_or(u64::MAX / 4).saturating_sub(1));
    for id in 1..=a.simulate {
        let client = client.clone();
        tokio::spawn(async move {
            if let Err(e) = nats_device(client, id, until).await {
                eprintln!("simulated device {id}: {e}");
            }
        });
    }
    println!("telemetra server {} on NATS {} ({} partitions)", a.name, urls.join(","), a.partitions);
    macro_rules! run {
        ($store:expr) => {{
            let store = Arc::new($store);
            // Shows what the instances share; acting needs the instance that owns the
            // device's partition, which a dashboard does not know yet: it only shows.
            if let Some(address) = &a.dashboard {
                let (dashboard, listener) =
                    dashboard(store.clone(), IngestConfig::default().silence, address).await?;
                tokio::spawn(dashboard.with_rules(shown_rules).serve(listener));
            }
            let end = NatsInstance::new(client, store.clone(), engine, config).run(stop(a.seconds)).await?;
            println!(
                "frames {} (bad {}, duplicates {}), readings {}, alerts {}, commands {}, replayed {}",
                end.frames,
                end.bad_frames,
                end.duplicates,
                end.readings,
                end.alerts,
                end.commands,
                end.replayed
            );
            report(store.as_ref()).await
        }};
    }
    match a.store.as_deref() {
        #[cfg(feature = "postgres")]
        Some(url) if url.starts_with("postgres") => {
            run!(telemetra_server::store::PostgresStore::connect(url).await?)
        }
        Some(path) => run!(SqliteStore::open(path)?),
        None => run!(SqliteStore::in_memory()?),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let a = args()?;
    #[cfg(feature = "nats")]
    if a.print_mappings {
        println!("mappings = {{");
        for (from, to) in telemetra_server::nats::partition::mappings(a.partitions) {
            println!("  \"{from}\": \"{to}\"");
        }
        println!("}}");
        return Ok(());
    }
    if let Some(urls) = a.nats.clone() {
        #[cfg(feature = "nats")]
        return on_nats(a, urls).await;
        #[cfg(not(feature = "nats"))]
        return Err(format!("--nats {urls}: built without NATS; run with --features nats").into());
    }
    let store = Arc::new(match &a.store {
        Some(path) => SqliteStore::open(path)?,
        None => SqliteStore::in_memory()?,
    });
    let rules = telemetra::rules::parse(&a.rules)?;
    let mut engine = Engine::new(Default::default());
    engine.load(rules.clone())?;
    let config = IngestConfig::default();
    let silence = config.silence;
    let mut ingest = Ingest::new(store.clone(), engine, config);
    if let Some(address) = &a.dashboard {
        let (dashboard, listener) = dashboard(store.clone(), silence, address).await?;
        let dashboard =
            dashboard.with_operator(ingest.operator()).with_changes(ingest.changes()).with_rules(rules);
        tokio::spawn(dashboard.serve(listener));
    }
    let link = Link::open(&a.listen, Role::Server("tm-server")).await?;
    let seconds = a.seconds;
    let stop = stop(seconds);
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
    report(store.as_ref()).await
}

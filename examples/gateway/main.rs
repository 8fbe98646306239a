//! A gateway: devices on serial links (and through the same code, any transport) to MQTT,
//! through a durable outbox that loses nothing.
//!
//! ```text
//! cargo run --features serial,outbox --example gateway -- \
//!     --serial serial:///dev/ttyUSB0?baud=115200 [--serial URL ...] [--coap coap://0.0.0.0:5683] \
//!     --mqtt mqtt://127.0.0.1:1883 [--store DIR] [--max-bytes N] [--ttl SECONDS] \
//!     [--full refuse|drop-oldest] [--id NAME]
//! ```
//!
//! Each frame a device sends is stored in the outbox (redb, fsync'd) before the serial link
//! acknowledges it to the device, so a frame the device saw acknowledged survives the gateway
//! being killed. The outbox is published to MQTT at QoS 1 on the frame's route topic, oldest
//! first, and a frame leaves the outbox only once the broker acknowledged it; a gateway killed
//! between the two publishes it again, so subscribers remove duplicates by (device, sequence
//! number), which every frame carries. While the broker is away the outbox fills up to its
//! bound; then, by default, frames are refused and the devices keep them (they are not
//! acknowledged), or with `--full drop-oldest` the oldest stored frames make room. Commands
//! published to `tm/v1/{device}/commands` go to the link that device was last heard on.
//!
//! With `--coap`, CoAP devices POST their frames to the gateway as to a server (the transport's
//! resource scheme); each frame is stored before the device gets its 2.04 (the server's
//! `before_ack` hook), and their commands go out as notifications of the routes they observe.

mod args;
mod commands;
mod uplink;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use telemetra::model::transport::{Receiver as _, Transport as _};
use telemetra::model::{DeviceId, Route, RouteFilter, RouteKind};
use telemetra::serial::driver::{SerialConfig, SerialLink, SerialReceiver};
use telemetra::transports::coap::driver::transport::{
    BeforeAck, CoapServer, CoapServerReceiver, ServerConfig,
};
use telemetra::transports::mqtt::client::Options;
use telemetra::transports::mqtt::driver::{Config, MqttClient};
use telemetra::transports::outbox::{Outbox, OutboxError};
use tokio::sync::{Notify, mpsc};

/// Where the commands for each device go: the link it was last heard on.
type Routes = Arc<Mutex<HashMap<DeviceId, mpsc::Sender<(Route, Vec<u8>)>>>>;

/// Milliseconds since the Unix epoch.
fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

#[tokio::main]
async fn main() {
    let args = match args::Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("gateway: {e}\n{}", args::USAGE);
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args).await {
        eprintln!("gateway: {e}");
        std::process::exit(1);
    }
}

async fn run(args: args::Args) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(&args.store)?;
    let outbox = Outbox::open(args.store.join("outbox.redb"), args.outbox)?;
    let mut options = Options::new(&args.id);
    // The broker keeps the gateway's command subscription, and queues commands, while it is away.
    options.clean_start = false;
    options.session_expiry = 24 * 3600;
    let mqtt = MqttClient::start(Config::new(&args.mqtt, options)?)?;
    let wake = Arc::new(Notify::new());
    let routes: Routes = Arc::default();
    for url in &args.serial {
        let link = SerialLink::open(url, SerialConfig::default()).await?;
        let (tx, rx) = link.split();
        let (commands, queue) = mpsc::channel(64);
        tokio::spawn(commands::to_device(tx, queue));
        tokio::spawn(from_device(rx, outbox.clone(), routes.clone(), commands, wake.clone()));
    }
    if let Some(url) = &args.coap {
        let mut config = ServerConfig::default();
        let (o, w) = (outbox.clone(), wake.clone());
        // On the server's task: a short, fsync'd write before the device's 2.04.
        config.before_ack = Some(BeforeAck(Arc::new(move |_, frame: &[u8]| {
            let kept = o.push(frame, now()).is_ok();
            if kept {
                w.notify_one();
            }
            kept
        })));
        let mut server = CoapServer::bind(url, config).await?;
        for kind in
            [RouteKind::Readings, RouteKind::Info, RouteKind::Status, RouteKind::Alerts, RouteKind::Acks]
        {
            server.subscribe(RouteFilter::kind(kind)).await?;
        }
        let (tx, rx) = server.split();
        let (commands, queue) = mpsc::channel(64);
        tokio::spawn(commands::to_device(tx, queue));
        tokio::spawn(from_coap(rx, routes.clone(), commands));
    }
    println!(
        "gateway: {} serial link(s){}, outbox {} ({} frames held), MQTT {}",
        args.serial.len(),
        args.coap.as_deref().map(|u| format!(", CoAP on {u}")).unwrap_or_default(),
        args.store.join("outbox.redb").display(),
        outbox.stats().frames,
        args.mqtt
    );
    tokio::spawn(commands::from_broker(mqtt.clone(), routes));
    tokio::spawn(expire(outbox.clone()));
    uplink::run(outbox, mqtt, wake).await;
    Ok(())
}

/// Notes which devices the CoAP server heard from (their frames are in the outbox already:
/// the server's hook put them there).
async fn from_coap(mut rx: CoapServerReceiver, routes: Routes, commands: mpsc::Sender<(Route, Vec<u8>)>) {
    let mut buf = vec![0u8; telemetra::codec::limits::MAX_FRAME];
    while let Ok(got) = rx.receive(&mut buf).await {
        routes.lock().unwrap_or_else(|p| p.into_inner()).insert(got.route.device, commands.clone());
    }
}

/// Takes the frames of one serial link: each stored in the outbox before it is released (and
/// so acknowledged to the device); a full outbox holds the frame back until there is room.
async fn from_device(
    mut rx: SerialReceiver,
    outbox: Outbox,
    routes: Routes,
    commands: mpsc::Sender<(Route, Vec<u8>)>,
    wake: Arc<Notify>,
) {
    loop {
        let Ok(held) = rx.hold().await else { return };
        let Some(route) = held.route else {
            // Not a telemetra frame: nothing to keep.
            held.release().await;
            continue;
        };
        routes.lock().unwrap_or_else(|p| p.into_inner()).insert(route.device, commands.clone());
        loop {
            let (o, frame) = (outbox.clone(), held.payload.clone());
            match tokio::task::spawn_blocking(move || o.push(&frame, now())).await {
                Ok(Ok(_)) => break,
                Ok(Err(OutboxError::Full { .. })) => tokio::time::sleep(Duration::from_millis(500)).await,
                Ok(Err(e)) => {
                    eprintln!("gateway: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    eprintln!("gateway: {e}");
                    return;
                }
            }
        }
        held.release().await;
        wake.notify_one();
    }
}

/// Drops frames older than the time-to-live, every minute.
async fn expire(outbox: Outbox) {
    loop {
        tokio::time::sleep(Duration::from_secs(60)).await;
        let o = outbox.clone();
        if let Ok(Ok(n)) = tokio::task::spawn_blocking(move || o.expire(now())).await
            && n > 0
        {
            eprintln!("gateway: {n} frame(s) older than the time-to-live dropped");
        }
    }
}

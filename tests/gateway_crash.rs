//! The gateway example killed with SIGKILL again and again, at random moments, while two
//! devices on pseudo-terminals send readings and while mosquitto is down for part of the run:
//! at the end, every frame a device saw acknowledged has reached the MQTT subscriber
//! (duplicates removed by device and sequence number), the outbox never held more than its
//! bound, and a command published to a device's topic reaches that device.

// The transports' test support: a broker, pseudo-terminal pairs (which use `TempDir` and the
// fault line from the crate root, as they do from their own `support` module).
#[path = "../transports/tests/support/broker.rs"]
mod broker;
#[path = "../transports/tests/support/line.rs"]
#[allow(dead_code)]
mod line;
#[path = "../transports/tests/support/pty.rs"]
#[allow(dead_code)]
mod pty;
use broker::*;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use line::Rng;
use pty::PtyPair;
use telemetra::codec::{Frame, FrameView, Message as FrameMessage, ReadingsBody, encode_body};
use telemetra::model::transport::{Receiver as _, Sender, Transport as _};
use telemetra::model::{
    ChannelId, Command as DeviceCommand, CommandAction, CommandId, DeviceId, Reading, Route, RouteFilter,
    RouteKind, Timestamp, Value,
};
use telemetra::serial::driver::{SerialConfig, SerialLink};
use telemetra::transports::mqtt::client::{Message, Options};
use telemetra::transports::mqtt::driver::{Config, MqttClient};
use telemetra::transports::mqtt::packet::publish::QoS;
use telemetra::transports::outbox::{Outbox, OutboxConfig};

const KILLS: usize = 12;
/// The outbox's bound: small, so that the broker's absence fills it.
const BOUND: u64 = 16 * 1024;
const DEVICES: [DeviceId; 2] = [DeviceId(0xd1), DeviceId(0xd2)];

/// The gateway example, built with the features it needs (a no-op when it is built).
fn gateway_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap().to_path_buf();
    let target = profile_dir.parent().unwrap();
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--example", "gateway", "--all-features", "--target-dir"])
        .arg(target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success(), "the gateway example did not build");
    profile_dir.join("examples").join("gateway")
}

/// Starts the gateway with `links` (`--serial URL`, `--coap URL`); its log goes to the store.
fn start_gateway(binary: &PathBuf, links: &[String], broker: &str, store: &Path, run: usize) -> Child {
    Command::new(binary)
        .args(links)
        .args(["--mqtt", broker, "--max-bytes", &BOUND.to_string(), "--id", "gateway-under-test"])
        .arg("--store")
        .arg(store)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(store.join(format!("gateway-{run}.log"))).unwrap())
        .spawn()
        .unwrap()
}

/// What the subscriber got: every (device, sequence number), and how many messages.
type Delivered = Arc<Mutex<(Seen, u64)>>;

/// A subscriber to every device's readings, with a session the broker keeps (it queues for it
/// while it reconnects).
async fn subscriber(url: &str) -> (MqttClient, Delivered, tokio::task::JoinHandle<()>) {
    let mut options = Options::new("subscriber-under-test");
    options.clean_start = false;
    options.session_expiry = 3600;
    let mut config = Config::new(url, options).unwrap();
    config.backoff.initial = Duration::from_millis(50);
    config.backoff.max = Duration::from_millis(500);
    let client = MqttClient::start(config).unwrap();
    within(10, client.subscribe("tm/v1/+/readings", QoS::AtLeastOnce)).await.unwrap();
    let delivered: Delivered = Arc::default();
    let collector = {
        let (client, delivered) = (client.clone(), delivered.clone());
        tokio::spawn(async move {
            while let Some(m) = client.recv().await {
                let Ok(view) = FrameView::parse(&m.payload) else { continue };
                let mut d = delivered.lock().unwrap();
                d.0.insert((view.device.0, view.seq));
                d.1 += 1;
            }
        })
    };
    (client, delivered, collector)
}

/// Waits (up to a minute) until every acknowledged frame reached the subscriber; fails with
/// what is missing, the outbox, and where the gateway's logs are.
async fn until_delivered(acked: &Seen, delivered: &Delivered, gateway: &mut Child, store: &TempDir) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let missing: Vec<(u64, u32)> = acked.difference(&delivered.lock().unwrap().0).copied().collect();
        if missing.is_empty() {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            let _ = gateway.kill();
            let _ = gateway.wait();
            let outbox = Outbox::open(store.0.join("outbox.redb"), OutboxConfig::default()).unwrap();
            panic!(
                "{} acknowledged frames never reached the subscriber (first {:?}, last {:?}); outbox {:?}; \
                 {} delivered; logs in {}",
                missing.len(),
                missing.first(),
                missing.last(),
                outbox.stats(),
                delivered.lock().unwrap().0.len(),
                store.0.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Kills the gateway at a random moment (0.5 to 2.5 s after `start`), `kills` times; checks
/// after each that the outbox it left is within its bound; returns the largest seen. `each`
/// runs before every start (with the run's number).
async fn kill_repeatedly(
    kills: usize,
    rng: &mut Rng,
    mut start: impl FnMut(usize) -> Child,
    mut each: impl FnMut(usize),
    store: &Path,
) -> u64 {
    let mut peak = 0;
    for kill in 0..kills {
        each(kill);
        let mut gateway = start(kill);
        tokio::time::sleep(Duration::from_millis(500 + rng.next() % 2_000)).await;
        gateway.kill().unwrap();
        gateway.wait().unwrap();
        let outbox = Outbox::open(store.join("outbox.redb"), OutboxConfig::default()).unwrap();
        let s = outbox.stats();
        assert!(
            s.bytes <= BOUND,
            "kill {kill}: the outbox holds {} bytes, over its bound of {BOUND}",
            s.bytes
        );
        peak = peak.max(s.bytes);
    }
    peak
}

/// A command frame for `device`, published to its command topic by `client`.
async fn publish_command(client: &MqttClient, device: DeviceId) -> Vec<u8> {
    let command = DeviceCommand {
        id: CommandId(77),
        issued_at: Timestamp(0),
        expires_at: None,
        action: CommandAction::Actuate { channel: ChannelId(3), setpoint: Value::Bool(true) },
    };
    let bytes = Frame::new(device, 1, FrameMessage::Command(command)).to_vec().unwrap();
    let topic = Route::new(RouteKind::Commands, device).topic();
    client.publish(Message::new(topic.as_str(), bytes.clone()).with_qos(QoS::AtLeastOnce)).await.unwrap();
    bytes
}

/// Lets the last gateway run for 2 s and until more than `enough` frames were acknowledged in
/// all (at most a minute): a device whose request went out while the gateways were dying may
/// be waiting out its retransmission backoff (CoAP: up to 30 s before its last try) before it
/// sends again, the more so on a loaded machine.
async fn last_gateway_runs(acked: &Mutex<Seen>, enough: usize) {
    tokio::time::sleep(Duration::from_secs(2)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() <= enough && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn seed() -> u64 {
    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    println!("kill schedule seed {seed:#x}");
    seed
}

/// A readings frame of `device` with sequence number `seq`.
fn frame(device: DeviceId, seq: u32) -> Vec<u8> {
    let r = [Reading::new(ChannelId(1), Timestamp(u64::from(seq)), seq as i32)];
    let mut buf = [0u8; 128];
    encode_body(device, seq, &ReadingsBody(&r), &mut buf).unwrap().to_vec()
}

/// Frames by (device, sequence number).
type Seen = BTreeSet<(u64, u32)>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_again_and_again_loses_no_acknowledged_frame() {
    let binary = gateway_binary();
    // mosquitto keeps at most 1,000 messages for a client that is away, by default; the
    // subscriber is away while the broker restarts, and a gateway publishes its backlog then.
    let mut broker = Mosquitto::start("max_queued_messages 0");
    let store = TempDir::new("gateway-store");
    let pairs = [PtyPair::new(), PtyPair::new()];
    let links: Vec<String> =
        pairs.iter().flat_map(|p| ["--serial".to_string(), PtyPair::url(&p.b)]).collect();
    let (subscriber, delivered, collector) = subscriber(&broker.url()).await;

    // The devices send until told to stop, each frame waiting for its acknowledgement.
    let acked: Arc<Mutex<Seen>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut devices = Vec::new();
    let mut device_links = HashMap::new();
    for (pair, device) in pairs.iter().zip(DEVICES) {
        let mut link = SerialLink::open(&PtyPair::url(&pair.a), SerialConfig::default()).await.unwrap();
        link.subscribe(RouteFilter::exact(Route::new(RouteKind::Commands, device))).await.unwrap();
        let (tx, rx) = link.split();
        device_links.insert(device, rx);
        devices.push(tokio::spawn(send_until_stopped(tx, device, acked.clone(), stop.clone())));
    }

    let mut rng = Rng(seed());
    let url = broker.url();
    let peak = kill_repeatedly(
        KILLS,
        &mut rng,
        |run| start_gateway(&binary, &links, &url, &store.0, run),
        |kill| match kill {
            4 => broker.stop(),
            7 => broker.restart(),
            _ => {}
        },
        &store.0,
    )
    .await;

    // A last gateway runs to the end: the devices stop, everything acknowledged drains.
    let mut gateway = start_gateway(&binary, &links, &broker.url(), &store.0, KILLS);
    last_gateway_runs(&acked, 200).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut sent = 0;
    for d in devices {
        sent += within(30, d).await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    until_delivered(&acked, &delivered, &mut gateway, &store).await;

    // A command published to a device's topic reaches that device through the gateway.
    let bytes = publish_command(&subscriber, DEVICES[1]).await;
    let rx = device_links.get_mut(&DEVICES[1]).unwrap();
    let mut buf = [0u8; 256];
    let got = within(20, rx.receive(&mut buf)).await.unwrap();
    assert_eq!((got.route, &buf[..got.len]), (Route::new(RouteKind::Commands, DEVICES[1]), bytes.as_slice()));

    gateway.kill().unwrap();
    gateway.wait().unwrap();
    collector.abort();
    let (unique, received) = {
        let d = delivered.lock().unwrap();
        (d.0.len(), d.1)
    };
    println!(
        "{KILLS} kills: {sent} frames sent, {} acknowledged, {unique} delivered ({} duplicates removed), \
         0 lost; outbox peak {peak} of {BOUND} bytes",
        acked.len(),
        received - unique as u64
    );
    assert!(acked.len() > 200, "the devices got frames through: {}", acked.len());
}

/// A device sending readings one after the other, each waiting for its acknowledgement, until
/// `stop`; notes each acknowledged one; returns how many it sent.
async fn send_until_stopped<S: Sender>(
    mut tx: S,
    device: DeviceId,
    acked: Arc<Mutex<Seen>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> u32 {
    let readings = Route::new(RouteKind::Readings, device);
    let mut seq = 0u32;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        if tx.send_acked(readings, &frame(device, seq)).await.is_ok() {
            acked.lock().unwrap().insert((device.0, seq));
        }
        seq += 1;
    }
    seq
}

/// The same through the gateway's CoAP side: a CoAP device POSTs readings (each 2.04 sent only
/// once the frame is in the outbox), the gateway is killed five times; every acknowledged frame
/// reaches the subscriber, and a command reaches the device as a notification of its route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coap_device_through_a_killed_gateway_loses_no_acknowledged_frame() {
    use telemetra::transports::coap::driver::transport::{CoapDevice, DeviceConfig};
    let binary = gateway_binary();
    let broker = Mosquitto::start("max_queued_messages 0");
    let store = TempDir::new("gateway-store-coap");
    let port = free_port();
    let url = format!("coap://127.0.0.1:{port}");
    let links = vec!["--coap".to_string(), url.clone()];
    let (subscriber, delivered, collector) = subscriber(&broker.url()).await;
    let device = DEVICES[0];
    let mut config = DeviceConfig::default();
    config.max_retry_delay = Duration::from_millis(500);
    // A restarted gateway knows no observer: the device registers again after this long
    // without a notification (65 s by default, RFC 7641's freshness).
    config.reregister_after = Duration::from_secs(3);
    let mut coap = CoapDevice::connect(&url, device, config).await.unwrap();
    let acked: Arc<Mutex<Seen>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let mut rng = Rng(seed());
    let mut gateway = start_gateway(&binary, &links, &broker.url(), &store.0, 0);
    within(20, coap.subscribe(RouteFilter::exact(Route::new(RouteKind::Commands, device)))).await.unwrap();
    gateway.kill().unwrap();
    gateway.wait().unwrap();
    let (tx, mut rx) = coap.split();
    let sending = tokio::spawn(send_until_stopped(tx, device, acked.clone(), stop.clone()));
    let broker_url = broker.url();
    let peak = kill_repeatedly(
        5,
        &mut rng,
        |run| start_gateway(&binary, &links, &broker_url, &store.0, run + 1),
        |_| {},
        &store.0,
    )
    .await;
    let mut gateway = start_gateway(&binary, &links, &broker.url(), &store.0, 99);
    last_gateway_runs(&acked, 50).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = within(30, sending).await.unwrap();
    let acked = acked.lock().unwrap().clone();
    until_delivered(&acked, &delivered, &mut gateway, &store).await;
    let bytes = publish_command(&subscriber, device).await;
    let mut buf = [0u8; 256];
    let got = within(30, rx.receive(&mut buf)).await.unwrap();
    assert_eq!((got.route, &buf[..got.len]), (Route::new(RouteKind::Commands, device), bytes.as_slice()));
    gateway.kill().unwrap();
    gateway.wait().unwrap();
    collector.abort();
    println!(
        "CoAP: 5 kills: {sent} sent, {} acknowledged and delivered, 0 lost; outbox peak {peak}",
        acked.len()
    );
    assert!(acked.len() > 50, "the device got frames through: {}", acked.len());
}

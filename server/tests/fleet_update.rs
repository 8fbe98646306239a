//! A firmware update for a fleet, through a real mosquitto: the server offers a signed release
//! to six simulated devices (flash simulated, the update path real), each pulls the image at its
//! own pace, one loses its link halfway and resumes, one comes online late and finds the
//! retained offer, one is of another class and refuses; the server tracks each, and a restarted
//! server knows them all again from the retained statuses.

#[path = "../../transports/tests/support/broker.rs"]
mod broker;

use std::time::{Duration, Instant};

use broker::{Mosquitto, within};
use telemetra_core::DeviceId;
use telemetra_core::route::{FirmwareRoute, firmware_topic};
use telemetra_server::update::{FleetUpdates, Release};
use telemetra_transports::mqtt::client::{Message, Options};
use telemetra_transports::mqtt::driver::{Config, MqttClient};
use telemetra_transports::mqtt::packet::publish::QoS;
use telemetra_update::sim::SimFlash;
use telemetra_update::transfer::{Chunk, Fetcher, Progress, Status};
use telemetra_update::{Download, Layout, Manifest, UpdateError, boot, confirm, public_key, running, sign};

const SEED: [u8; 32] = [0x33; 32];
const LAYOUT: Layout = Layout { slots: [0, 65536], slot_size: 65536, state: [131072, 135168], sector: 4096 };
const SEQUENCE: u64 = 4;

fn image() -> Vec<u8> {
    (0..40_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

fn release(image: &[u8]) -> Release {
    let m = Manifest::for_image(image, SEQUENCE, 0x7e1e, 2, 1024);
    let mut env = [0u8; telemetra_update::MAX_ENVELOPE];
    let n = sign(&m, &SEED, &mut env).unwrap();
    Release::new(env[..n].to_vec(), image.to_vec(), &public_key(&SEED).unwrap()).unwrap()
}

async fn connect(url: &str, id: &str, device: DeviceId) -> MqttClient {
    let c = MqttClient::start(Config::new(url, Options::new(id)).unwrap()).unwrap();
    within(10, c.connected()).await.unwrap();
    for route in [FirmwareRoute::Offer, FirmwareRoute::Chunk] {
        c.subscribe(&firmware_topic(device, route), QoS::AtLeastOnce).await.unwrap();
    }
    c
}

async fn report(c: &MqttClient, device: DeviceId, progress: Progress) {
    let mut buf = [0u8; 32];
    let status = Status { sequence: SEQUENCE, progress }.encode(&mut buf).unwrap().to_vec();
    let mut m = Message::new(firmware_topic(device, FirmwareRoute::Status).as_str(), status)
        .with_qos(QoS::AtLeastOnce);
    m.retain = true;
    c.publish_acked(m).await.unwrap();
}

/// A device: waits for the offer, pulls the image into its inactive slot, reboots into it and
/// confirms it. `drop_after`: the link is cut after that many chunks, and made again.
/// Returns the flash (to check what runs) and the chunks it asked for.
async fn device(url: String, device: DeviceId, class: u32, drop_after: Option<u32>) -> (SimFlash, u32) {
    let mut flash = SimFlash::new(139264, 4096);
    let id = device.to_string();
    let mut c = connect(&url, &id, device).await;
    let offer_topic = firmware_topic(device, FirmwareRoute::Offer);
    let offer = within(20, async {
        loop {
            let m = c.recv().await.unwrap();
            if m.topic == offer_topic.as_str() {
                return m.payload;
            }
        }
    })
    .await;
    let mut d =
        match Download::begin(&mut flash, &LAYOUT, &offer, &public_key(&SEED).unwrap(), (0x7e1e, class)) {
            Ok(d) => d,
            Err(e) => {
                report(&c, device, Progress::Refused(e)).await;
                c.disconnect().await;
                return (flash, 0);
            }
        };
    let chunks = d.manifest().chunks();
    let mut fetcher = Fetcher::new(d.manifest(), 8, 1500);
    let (start, mut written, mut drop_after) = (Instant::now(), 0u32, drop_after);
    let chunk_topic = firmware_topic(device, FirmwareRoute::Chunk);
    while d.missing().next().is_some() {
        let now = start.elapsed().as_millis() as u64;
        if let Some(r) = fetcher.poll(&d, now) {
            let mut buf = [0u8; 32];
            let get = Message::new(
                firmware_topic(device, FirmwareRoute::Get).as_str(),
                r.encode(&mut buf).unwrap().to_vec(),
            );
            c.publish(get.with_qos(QoS::AtLeastOnce)).await.unwrap();
        }
        let wait = fetcher.next_timeout().map_or(100, |t| t.saturating_sub(now).max(1));
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(wait), c.recv()).await
            && m.topic == chunk_topic.as_str()
        {
            let chunk = Chunk::decode(&m.payload).unwrap();
            if chunk.sequence == SEQUENCE {
                d.write(&mut flash, chunk.offset, chunk.data).unwrap();
                written += 1;
                if written % 10 == 0 {
                    report(
                        &c,
                        device,
                        Progress::Downloading { received: chunks - d.missing().count() as u32, chunks },
                    )
                    .await;
                }
                if drop_after == Some(written) {
                    // The link goes: whatever is in flight is lost. A new connection, a new session.
                    c.abort().await;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    c = connect(&url, &id, device).await;
                    drop_after = None;
                }
            }
        }
    }
    d.finish(&mut flash).unwrap();
    report(&c, device, Progress::Ready).await;
    // The reboot: the new image starts on trial, comes up, and confirms itself.
    assert_eq!(boot(&mut flash, &LAYOUT).unwrap(), 1);
    assert_eq!(confirm(&mut flash, &LAYOUT), Ok(()));
    report(&c, device, Progress::Running).await;
    c.disconnect().await;
    (flash, fetcher.asked())
}

async fn wait_for(updates: &FleetUpdates, n: usize) {
    within(60, async {
        loop {
            let done = updates
                .progress()
                .values()
                .filter(|p| {
                    matches!(
                        p.status,
                        Some(Status { progress: Progress::Running | Progress::Refused(_), .. })
                    )
                })
                .count();
            if done >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_takes_an_update_each_at_its_pace_with_a_dropped_link_a_late_device_and_a_refusal() {
    let broker = Mosquitto::start("");
    let url = broker.url();
    let image = image();
    let updates = std::sync::Arc::new(FleetUpdates::new());
    updates.add_release(release(&image));
    let server = MqttClient::start(Config::new(&url, Options::new("tm-updates")).unwrap()).unwrap();
    within(10, server.connected()).await.unwrap();
    let serving = {
        let (u, s) = (updates.clone(), std::sync::Arc::new(server));
        let s2 = s.clone();
        (tokio::spawn(async move { u.serve(&s2).await.unwrap() }), s)
    };
    tokio::time::sleep(Duration::from_millis(200)).await;

    let fleet: Vec<(DeviceId, u32, Option<u32>)> = vec![
        (DeviceId(0x51), 2, None),
        (DeviceId(0x52), 2, None),
        (DeviceId(0x53), 2, None),
        (DeviceId(0x54), 2, Some(13)), // the link drops after 13 chunks
        (DeviceId(0x55), 3, None),     // another class
    ];
    let mut tasks = Vec::new();
    for &(dev, class, drop) in &fleet {
        tasks.push((dev, class, tokio::spawn(device(url.clone(), dev, class, drop))));
    }
    let all: Vec<DeviceId> = fleet.iter().map(|f| f.0).chain([DeviceId(0x56)]).collect();
    updates.offer(&serving.1, SEQUENCE, &all).await.unwrap();
    // The last device comes online after the offer: it is retained for it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    tasks.push((DeviceId(0x56), 2, tokio::spawn(device(url.clone(), DeviceId(0x56), 2, None))));

    let mut asked = 0;
    for (dev, class, task) in tasks {
        let (mut flash, n) = within(60, task).await.unwrap();
        asked += n;
        let (slot, sequence) = running(&mut flash, &LAYOUT).unwrap();
        if class == 2 {
            assert_eq!((slot, sequence), (1, SEQUENCE), "{dev} runs the update");
            let mut written = vec![0u8; image.len()];
            use embedded_storage::nor_flash::ReadNorFlash;
            flash.read(LAYOUT.slots[1], &mut written).unwrap();
            assert!(written == image, "{dev} holds the image byte for byte");
        } else {
            assert_eq!(sequence, 0, "{dev} still runs what it ran");
        }
    }
    wait_for(&updates, 6).await;
    let progress = updates.progress();
    for (dev, p) in &progress {
        assert_eq!(p.offered, Some(SEQUENCE));
        if *dev == DeviceId(0x55) {
            assert_eq!(p.status.unwrap().progress, Progress::Refused(UpdateError::WrongClass));
        } else {
            assert!(p.is_done(), "{dev}: {p:?}");
        }
    }
    let chunks = image.len().div_ceil(1024) as u64;
    let stats = updates.stats();
    assert!(stats.chunks_sent >= 5 * chunks, "{stats:?}");
    eprintln!(
        "fleet update: 6 devices, {chunks} chunks each; {} chunks sent for 5 × {chunks} needed, {asked} asked for; {} requests",
        stats.chunks_sent, stats.requests
    );

    // A restarted server knows every device's state from the retained statuses.
    serving.0.abort();
    serving.1.abort().await;
    let again = std::sync::Arc::new(FleetUpdates::new());
    let server = std::sync::Arc::new(
        MqttClient::start(Config::new(&url, Options::new("tm-updates-2")).unwrap()).unwrap(),
    );
    within(10, server.connected()).await.unwrap();
    let (a, s) = (again.clone(), server.clone());
    let task = tokio::spawn(async move { a.serve(&s).await.unwrap() });
    wait_for(&again, 6).await;
    assert_eq!(again.progress().len(), 6);
    task.abort();
    server.abort().await;
}

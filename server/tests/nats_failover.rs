//! Scale-out on NATS JetStream, with real peers: a 3-node NATS cluster (nats-server, JetStream
//! replicated three times, the partition mappings in its configuration), PostgreSQL shared by
//! 3 server instances, and 24 devices publishing readings whose power crosses a rule's
//! threshold. Mid-stream one instance dies (its task dropped: no goodbye, its leases left to
//! expire) and then one NATS node is killed. At the end every reading is stored exactly once,
//! every alarm transition happened once at the reading that caused it, and every raise sent
//! exactly one command (one id: a command an owner sent and died before recording may reach
//! its device again, under the same id).
#![cfg(all(feature = "nats", feature = "postgres"))]

#[path = "support/nats.rs"]
mod nats_cluster;
#[path = "support/postgres.rs"]
mod postgres;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::PublishMessage};
use futures_util::StreamExt;
use telemetra_codec::{Frame, Message};
use telemetra_core::{
    AlertState, ChannelId, ChannelSpec, Device, DeviceId, FirmwareVersion, Name, Quantity, Reading, Route,
    RouteKind, Timestamp, Unit,
};
use telemetra_rules::Engine;
use telemetra_server::ingest::{IngestConfig, now};
use telemetra_server::nats::partition::{mappings, partition, subject};
use telemetra_server::nats::{NatsConfig, NatsInstance, ensure_stream};
use telemetra_server::store::{PostgresStore, Store};

use nats_cluster::NatsCluster;
use postgres::Postgres;

const PARTITIONS: u32 = 8;
const DEVICES: u64 = 24;
const ROUNDS: u32 = 60;

const RULES: &str = r#"
rule power_peak: when power > 1450 clear when power < 1300
    then alert warning "Power peak", command set limit_w = 1400
"#;

fn engine() -> Engine {
    let mut engine = Engine::new(Default::default());
    engine.load(telemetra_rules::parse(RULES).unwrap()).unwrap();
    engine
}

fn info(id: DeviceId) -> Device {
    Device {
        id,
        model: Name::try_from("meter").unwrap(),
        firmware: FirmwareVersion::new(1, 0, 0),
        channels: [ChannelSpec {
            id: ChannelId(1),
            name: Name::try_from("power").unwrap(),
            quantity: Quantity::Power,
            unit: Unit::Watt,
            period_ms: 100,
        }]
        .into_iter()
        .collect(),
        tags: Default::default(),
    }
}

/// Round `i`'s power: 1200 W, then 1500 W for rounds 10–19, 30–39 and 50–59.
fn watts(i: u32) -> f64 {
    if (i / 10) % 2 == 1 { 1500.0 } else { 1200.0 }
}

/// Publishes a frame into JetStream on its route's plain subject (the cluster's mapping puts
/// it in its partition) until the stream confirms it; the message id makes a retry after a
/// lost confirmation a duplicate the stream drops.
async fn publish(js: &jetstream::Context, route: Route, frame: &Frame) {
    let bytes = frame.to_vec().unwrap();
    let id = format!("{}-{}", frame.device, frame.seq);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let sent = js
            .send_publish(
                subject(route),
                PublishMessage::build().payload(bytes.clone().into()).message_id(&id),
            )
            .await;
        let acked = match sent {
            Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match acked {
            Ok(()) => return,
            Err(e) => {
                assert!(Instant::now() < deadline, "publish {id} never confirmed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connect(cluster: &NatsCluster) -> async_nats::Client {
    let urls = cluster.urls();
    async_nats::ConnectOptions::new().retry_on_initial_connect().connect(urls.as_slice()).await.unwrap()
}

struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<
        Result<telemetra_server::ingest::IngestStats, telemetra_server::nats::NatsError>,
    >,
    owned: telemetra_server::nats::Owned,
    stats: telemetra_server::ingest::StatsHandle,
}

async fn instance(cluster: &NatsCluster, db: &str, name: &str) -> Running {
    let store = Arc::new(PostgresStore::connect(db).await.unwrap());
    let mut config = NatsConfig::new(name);
    config.partitions = PARTITIONS;
    config.lease = Duration::from_secs(3);
    config.ack_wait = Duration::from_secs(20);
    config.fetch_wait = Duration::from_millis(200);
    // The backlog a takeover finds is seconds old: still judged by the rules.
    config.ingest = IngestConfig::default();
    config.ingest.clock_skew = Duration::from_secs(300);
    let instance = NatsInstance::new(connect(cluster).await, store, engine, config);
    let (owned, stats) = (instance.owned(), instance.stats());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(instance.run(async move {
        let _ = stopped.await;
    }));
    Running { stop, task, owned, stats }
}

async fn until(what: &str, timeout: Duration, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f().await {
        assert!(Instant::now() < deadline, "not reached in {timeout:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_lose_one_and_a_nats_node_and_store_and_alarm_everything_once() {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
        .with_test_writer()
        .try_init();
    let pg = Postgres::start(false);
    let db = pg.database();
    let mut cluster = NatsCluster::start(3, &mappings(PARTITIONS));
    let client = connect(&cluster).await;
    let js = jetstream::new(client.clone());
    // The stream, once JetStream has elected its leaders.
    let mut config = NatsConfig::new("setup");
    config.partitions = PARTITIONS;
    until("JetStream ready", Duration::from_secs(30), async || match ensure_stream(&js, &config).await {
        Ok(()) => true,
        Err(e) => {
            eprintln!("not yet: {e}");
            false
        }
    })
    .await;

    // Commands, as the devices receive them (on a node that stays up).
    let commands_client = async_nats::connect(cluster.urls()[0].as_str()).await.unwrap();
    let mut commands = commands_client.subscribe("tm.v1.*.commands").await.unwrap();
    let received = Arc::new(std::sync::Mutex::new(Vec::<(DeviceId, u32)>::new()));
    let r = received.clone();
    tokio::spawn(async move {
        while let Some(m) = commands.next().await {
            let frame = Frame::decode(&m.payload).unwrap();
            let Message::Command(c) = frame.message else { panic!("not a command on {}", m.subject) };
            r.lock().unwrap().push((frame.device, c.id.0));
        }
    });
    commands_client.flush().await.unwrap();

    let mut instances = Vec::new();
    for name in ["i0", "i1", "i2"] {
        instances.push(instance(&cluster, &db, name).await);
    }
    until("the 8 partitions shared by the 3 instances", Duration::from_secs(60), async || {
        for i in &mut instances {
            if i.task.is_finished() {
                panic!("an instance ended: {:?}", (&mut i.task).await);
            }
        }
        let owned: Vec<Vec<u32>> = instances.iter().map(|i| i.owned.get()).collect();
        owned.iter().map(Vec::len).sum::<usize>() == PARTITIONS as usize && owned.iter().all(|o| o.len() >= 2)
    })
    .await;

    let devices: Vec<DeviceId> = (1..=DEVICES).map(|d| DeviceId(0x7e1e_0000 + d * 7919)).collect();
    for d in &devices {
        publish(&js, Route::new(RouteKind::Info, *d), &Frame::new(*d, 1, Message::DeviceInfo(info(*d))))
            .await;
    }
    // nats-server's partition mapping and ours agree: each descriptor is in the partition we
    // compute for its device.
    let stream = js.get_stream("telemetra").await.unwrap();
    for d in &devices {
        let subject = format!("tm.p.{}.{d}.info", partition(*d, PARTITIONS));
        assert!(
            stream.get_last_raw_message_by_subject(&subject).await.is_ok(),
            "no message on {subject}: nats-server partitions devices differently"
        );
    }

    // The readings, a round every 40 ms; the raises' and clears' timestamps, as expected.
    let mut expected: BTreeMap<(DeviceId, bool), Vec<u64>> = BTreeMap::new();
    let mut latencies = Vec::new();
    let mut last_at: HashMap<DeviceId, u64> = HashMap::new();
    for i in 0..ROUNDS {
        if i == ROUNDS / 3 {
            let i0 = instances.remove(0);
            i0.task.abort();
            let _ = i0.task.await;
            drop(i0.stop);
        }
        if i == 2 * ROUNDS / 3 {
            cluster.kill(2);
        }
        let started = Instant::now();
        let mut round = Vec::new();
        for d in &devices {
            let at = now().0.max(last_at.get(d).map_or(0, |t| t + 1));
            last_at.insert(*d, at);
            if i > 0 && watts(i) != watts(i - 1) {
                expected.entry((*d, watts(i) > 1450.0)).or_default().push(at);
            }
            let reading = Reading::new(ChannelId(1), Timestamp(at), watts(i));
            let frame = Frame::new(*d, i + 2, Message::Readings([reading].into_iter().collect()));
            round.push((Route::new(RouteKind::Readings, *d), frame));
        }
        futures_util::future::join_all(round.iter().map(|(route, frame)| publish(&js, *route, frame))).await;
        latencies.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(40)).await;
    }

    let store = PostgresStore::connect(&db).await.unwrap();
    let all = async || {
        let mut n = 0;
        for d in &devices {
            n += store.readings(*d, Timestamp(0), Timestamp(u64::MAX >> 1), 10_000).await.unwrap().len();
        }
        n
    };
    let total = (DEVICES * u64::from(ROUNDS)) as usize;
    until("every reading stored", Duration::from_secs(120), async || all().await >= total).await;
    let raises: usize = expected.iter().filter(|((_, raised), _)| *raised).map(|(_, v)| v.len()).sum();
    until("every raise's command received", Duration::from_secs(30), async || {
        received.lock().unwrap().len() >= raises
    })
    .await;
    // Anything late or doubled would have arrived by now.
    tokio::time::sleep(Duration::from_secs(2)).await;

    assert_eq!(all().await, total, "every reading stored exactly once");
    for d in &devices {
        let stored = store.readings(*d, Timestamp(0), Timestamp(u64::MAX >> 1), 10_000).await.unwrap();
        assert_eq!(stored.len(), ROUNDS as usize, "device {d}");
    }
    let mut alarms: BTreeMap<(DeviceId, bool), Vec<u64>> = BTreeMap::new();
    for a in store.alerts(None, 100_000).await.unwrap() {
        alarms.entry((a.device, a.state == AlertState::Raised)).or_default().push(a.at.0);
    }
    alarms.values_mut().for_each(|v| v.sort_unstable());
    assert_eq!(alarms, expected, "every alarm transition once, at the reading that caused it");
    // At least once, with one id: an owner killed after a send and before it recorded the send
    // leaves the command pending for the next owner, and the device sees that id again.
    let mut per_device: BTreeMap<DeviceId, usize> = BTreeMap::new();
    let received = received.lock().unwrap().clone();
    let distinct: std::collections::BTreeSet<(DeviceId, u32)> = received.iter().copied().collect();
    for (d, _) in &distinct {
        *per_device.entry(*d).or_default() += 1;
    }
    println!("commands received: {} ({} distinct)", received.len(), distinct.len());
    for d in &devices {
        let raised = expected.get(&(*d, true)).map_or(0, Vec::len);
        assert_eq!(per_device.get(d).copied().unwrap_or(0), raised, "commands to {d}: one id per raise");
        assert_eq!(store.commands(*d).await.unwrap().len(), raised, "commands stored for {d}");
    }
    let replayed: u64 = instances.iter().map(|i| i.stats.get().replayed).sum();
    assert!(replayed > 0, "the survivors rebuilt the dead instance's devices from history");
    until("the survivors hold every partition", Duration::from_secs(30), async || {
        instances.iter().map(|i| i.owned.get().len()).sum::<usize>() == PARTITIONS as usize
    })
    .await;

    latencies.sort();
    eprintln!(
        "rounds of {DEVICES} readings confirmed by JetStream: p50 {:?}, max {:?}; replayed on takeover: {replayed}",
        latencies[latencies.len() / 2],
        latencies.last().unwrap()
    );
    for i in instances {
        i.stop.send(()).unwrap();
        let stopped = tokio::time::timeout(Duration::from_secs(60), i.task).await;
        stopped.expect("an instance did not stop within 60 s of being told to").unwrap().unwrap();
    }
}

//! End-to-end scale on NATS JetStream: readings/s from devices' publishes to rows in
//! PostgreSQL with 1 and with 3 server instances (`telemetra::server::nats`), in the same run on
//! the same 3-node NATS cluster (replicas 3) and the same PostgreSQL (durable); then the
//! latency from a device's publish to its stored row and to the command its alarm sends, p50
//! and p99, with 1 and 3 instances.
//!
//! ```text
//! cargo bench -p telemetra-benches --bench scale
//! ```
//!
//! It starts its own nats-server nodes and PostgreSQL (the server's test support), as the
//! tests do.

#[path = "../server/tests/support/nats.rs"]
mod nats_cluster;
#[path = "../server/tests/support/postgres.rs"]
mod postgres;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use telemetra::codec::{Frame, Message};
use telemetra::model::text::bounded;
use telemetra::model::{
    ChannelId, ChannelSpec, Device, DeviceId, FirmwareVersion, Quantity, Reading, Timestamp, Unit,
};
use telemetra::prelude::{Route, RouteKind};
use telemetra::rules::Engine;
use telemetra::server::ingest::now;
use telemetra::server::nats::async_nats::{self, jetstream};
use telemetra::server::nats::partition::{mappings, subject};
use telemetra::server::nats::{NatsConfig, NatsInstance};
use telemetra::server::store::PostgresStore;
use tokio_postgres::NoTls;

use nats_cluster::NatsCluster;
use postgres::Postgres;

const PARTITIONS: u32 = 12;
const DEVICES: u64 = 120;
const FRAMES: u32 = 50;
const READINGS_PER_FRAME: usize = 10;
const PROBES: u32 = 200;

const RULES: &str = r#"
rule power_peak: when power > 1450 clear when power < 1300
    then alert warning "Power peak", command set limit_w = 1400
"#;

fn engine() -> Engine {
    let mut engine = Engine::new(Default::default());
    engine.load(telemetra::rules::parse(RULES).unwrap()).unwrap();
    engine
}

fn info(id: DeviceId) -> Device {
    Device {
        id,
        model: bounded("model", "meter").unwrap(),
        firmware: FirmwareVersion::new(1, 0, 0),
        channels: [ChannelSpec {
            id: ChannelId(1),
            name: bounded("channel", "power").unwrap(),
            quantity: Quantity::Power,
            unit: Unit::Watt,
            period_ms: 100,
        }]
        .into_iter()
        .collect(),
        tags: Default::default(),
    }
}

async fn connect(cluster: &NatsCluster) -> async_nats::Client {
    let urls = cluster.urls();
    async_nats::ConnectOptions::new().connect(urls.as_slice()).await.unwrap()
}

/// A frame published on its route's plain subject, not waited for.
async fn publish(
    js: &jetstream::Context,
    kind: RouteKind,
    frame: &Frame,
) -> jetstream::context::PublishAckFuture {
    js.publish(subject(Route::new(kind, frame.device)), frame.to_vec().unwrap().into()).await.unwrap()
}

async fn count(db: &tokio_postgres::Client, sql: &str) -> i64 {
    db.query_one(sql, &[]).await.unwrap().get(0)
}

struct Run {
    instances: usize,
    readings_per_s: f64,
    stored_p50: Duration,
    stored_p99: Duration,
    alert_p50: Duration,
    alert_p99: Duration,
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn run(cluster: &NatsCluster, pg: &Postgres, instances: usize) -> Run {
    let db_url = pg.database();
    let (db, conn) = tokio_postgres::connect(&db_url, NoTls).await.unwrap();
    tokio::spawn(conn);
    let client = connect(cluster).await;
    let js = jetstream::new(client.clone());
    // A fresh stream and lease bucket for each run.
    let _ = js.delete_stream("telemetra").await;
    let _ = js.delete_stream("KV_telemetra-leases").await;
    let mut stops = Vec::new();
    let mut owned = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..instances {
        let store = Arc::new(PostgresStore::connect(&db_url).await.unwrap());
        let mut config = NatsConfig::new(format!("i{i}"));
        config.partitions = PARTITIONS;
        config.lease = Duration::from_secs(3);
        let instance = NatsInstance::new(connect(cluster).await, store, engine, config);
        owned.push(instance.owned());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        stops.push(stop);
        tasks.push(tokio::spawn(instance.run(async move {
            let _ = stopped.await;
        })));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let held: Vec<usize> = owned.iter().map(|o| o.get().len()).collect();
        if held.iter().sum::<usize>() == PARTITIONS as usize && held.iter().all(|&n| n > 0) {
            break;
        }
        assert!(Instant::now() < deadline, "partitions not shared: {held:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Throughput: every device's descriptor, then its frames, as fast as JetStream takes them.
    let devices: Vec<DeviceId> = (1..=DEVICES).map(|d| DeviceId(0x5ca1_0000 + d)).collect();
    let mut acks = Vec::new();
    for d in &devices {
        acks.push(publish(&js, RouteKind::Info, &Frame::new(*d, 1, Message::DeviceInfo(info(*d)))).await);
    }
    for a in acks.drain(..) {
        a.await.unwrap();
    }
    let started = Instant::now();
    let base = now().0;
    for f in 0..FRAMES {
        for d in &devices {
            let readings = (0..READINGS_PER_FRAME).map(|r| {
                let at = Timestamp(base + u64::from(f) * READINGS_PER_FRAME as u64 + r as u64);
                Reading::new(ChannelId(1), at, 1000.0 + r as f64)
            });
            let frame = Frame::new(*d, f + 2, Message::Readings(readings.collect()));
            acks.push(publish(&js, RouteKind::Readings, &frame).await);
        }
        if acks.len() >= 2000 {
            for a in acks.drain(..) {
                a.await.unwrap();
            }
        }
    }
    for a in acks.drain(..) {
        a.await.unwrap();
    }
    let total = DEVICES as i64 * i64::from(FRAMES) * READINGS_PER_FRAME as i64;
    let deadline = Instant::now() + Duration::from_secs(300);
    while count(&db, "SELECT count(*) FROM readings").await < total {
        assert!(Instant::now() < deadline, "not every reading stored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let readings_per_s = total as f64 / started.elapsed().as_secs_f64();

    // Latency: a probe device alternating 1200 W and 1500 W every 20 ms; each frame's row
    // watched for, each raise's command listened for.
    let probe = DeviceId(0xbeef);
    let mut commands = client.subscribe(subject(Route::new(RouteKind::Commands, probe))).await.unwrap();
    client.flush().await.unwrap();
    publish(&js, RouteKind::Info, &Frame::new(probe, 1, Message::DeviceInfo(info(probe))))
        .await
        .await
        .unwrap();
    let (mut stored, mut alerted) = (Vec::new(), Vec::new());
    for i in 0..PROBES {
        let watts = if i % 2 == 1 { 1500.0 } else { 1200.0 };
        let reading = Reading::new(ChannelId(1), now(), watts);
        let seq = i + 2;
        let frame = Frame::new(probe, seq, Message::Readings([reading].into_iter().collect()));
        let sent = Instant::now();
        publish(&js, RouteKind::Readings, &frame).await;
        let sql = format!("SELECT count(*) FROM frames WHERE device = {} AND seq = {seq}", probe.0 as i64);
        loop {
            if count(&db, &sql).await == 1 {
                stored.push(sent.elapsed());
                break;
            }
            assert!(sent.elapsed() < Duration::from_secs(30), "probe frame {seq} never stored");
        }
        if watts > 1450.0 {
            tokio::time::timeout(Duration::from_secs(30), commands.next()).await.unwrap().unwrap();
            alerted.push(sent.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for s in stops {
        let _ = s.send(());
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    Run {
        instances,
        readings_per_s,
        stored_p50: pct(&mut stored, 0.5),
        stored_p99: pct(&mut stored, 0.99),
        alert_p50: pct(&mut alerted, 0.5),
        alert_p99: pct(&mut alerted, 0.99),
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        // `cargo test --benches` and `--list`: nothing to run as a test.
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let pg = Postgres::start(true);
    let cluster = NatsCluster::start(3, &mappings(PARTITIONS));
    let runs: Vec<Run> = rt.block_on(async {
        let client = connect(&cluster).await;
        let js = jetstream::new(client);
        let deadline = Instant::now() + Duration::from_secs(30);
        // JetStream ready: a stream can be made.
        while telemetra::server::nats::ensure_stream(&js, &{
            let mut c = NatsConfig::new("probe");
            c.partitions = PARTITIONS;
            c
        })
        .await
        .is_err()
        {
            assert!(Instant::now() < deadline, "JetStream not ready");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut runs = Vec::new();
        for n in [1, 3] {
            runs.push(run(&cluster, &pg, n).await);
        }
        runs
    });
    println!(
        "\n{DEVICES} devices x {FRAMES} frames x {READINGS_PER_FRAME} readings; 3 nats-server nodes, replicas 3; PostgreSQL (durable)\n"
    );
    println!("| instances | readings/s stored | publish → row p50 | p99 | publish → command p50 | p99 |");
    println!("|---|---|---|---|---|---|");
    for r in runs {
        println!(
            "| {} | {:.0} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |",
            r.instances,
            r.readings_per_s,
            r.stored_p50.as_secs_f64() * 1e3,
            r.stored_p99.as_secs_f64() * 1e3,
            r.alert_p50.as_secs_f64() * 1e3,
            r.alert_p99.as_secs_f64() * 1e3
        );
    }
}

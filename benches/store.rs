//! Storage: readings stored per second by each backend, in the same run. A batch as the
//! ingest pipeline hands it over (its default is up to 256 frames), each frame 16 readings of
//! one of 100 devices, stored as one transaction; and a single frame, as a quiet pipeline
//! stores it.
//!
//! ```text
//! cargo bench -p telemetra-benches --bench store
//! ```
//!
//! - `sqlite`: [`SqliteStore`] on a file (WAL, `synchronous = NORMAL`);
//! - `postgres`: [`PostgresStore`] (set-based inserts from arrays) on a PostgreSQL 15 the
//!   bench starts with its defaults (every commit flushed to disk);
//! - `postgres, a row per INSERT`: the same rows into the same PostgreSQL written as
//!   hand-written glue does it: a prepared INSERT per reading, one transaction per batch.
//!
//! PostgreSQL must be installed (`apt-get install postgresql-15`); the bench starts its own.

#[path = "../server/tests/support/postgres.rs"]
mod postgres;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use telemetra::codec::{Frame, Message};
use telemetra::model::{ChannelId, DeviceId, Reading, Timestamp};
use telemetra::server::store::{PostgresStore, SqliteStore, Store};
use tokio::runtime::Runtime;

const DEVICES: u64 = 100;
const READINGS_PER_FRAME: u64 = 16;

/// `frames` new frames (sequence numbers from `seq`, so none is a duplicate).
fn batch(seq: &AtomicU32, frames: u64) -> Arc<[Frame]> {
    (0..frames)
        .map(|k| {
            let n = seq.fetch_add(1, Ordering::Relaxed);
            let device = DeviceId(1 + (u64::from(n) + k) % DEVICES);
            let at = 1_700_000_000_000 + u64::from(n) * 1000;
            let readings = (0..READINGS_PER_FRAME).map(|c| {
                Reading::new(ChannelId(c as u16 + 1), Timestamp(at), 20.0 + (n % 100) as f64 / 10.0)
            });
            Frame::new(device, n, Message::Readings(readings.collect()))
        })
        .collect()
}

/// The glue a developer writes without a store: an INSERT per reading.
async fn row_per_insert(client: &mut tokio_postgres::Client, frames: &[Frame]) {
    let tx = client.transaction().await.unwrap();
    let insert = tx
        .prepare(
            "INSERT INTO readings (device, channel, at, num, value, quality) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await
        .unwrap();
    for f in frames {
        let Message::Readings(rs) = &f.message else { continue };
        for r in rs {
            let value = postcard::to_allocvec(&r.value).unwrap();
            tx.execute(
                &insert,
                &[
                    &(f.device.0 as i64),
                    &i32::from(r.channel.0),
                    &(r.at.0 as i64),
                    &r.value.as_f64(),
                    &value,
                    &i16::from(r.quality.0),
                ],
            )
            .await
            .unwrap();
        }
    }
    tx.commit().await.unwrap();
}

fn main() {
    let rt = Runtime::new().unwrap();
    let pg = postgres::Postgres::start(true);
    let dir = std::env::temp_dir().join(format!("telemetra-bench-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = SqliteStore::open(dir.join("bench.sqlite")).unwrap();
    let postgres = rt.block_on(PostgresStore::connect(&pg.database())).unwrap();
    let glue_url = pg.database();
    // The glue writes into the same schema.
    drop(rt.block_on(PostgresStore::connect(&glue_url)).unwrap());
    let mut glue = rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&glue_url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    });

    let mut c =
        Criterion::default().configure_from_args().sample_size(10).measurement_time(Duration::from_secs(5));
    let mut g = c.benchmark_group("store/put");
    let seq = AtomicU32::new(0);
    for frames in [1u64, 256] {
        g.throughput(Throughput::Elements(frames * READINGS_PER_FRAME));
        g.bench_function(BenchmarkId::new("sqlite", frames), |b| {
            b.iter(|| rt.block_on(sqlite.put(batch(&seq, frames), Timestamp(1))).unwrap())
        });
        g.bench_function(BenchmarkId::new("postgres", frames), |b| {
            b.iter(|| rt.block_on(postgres.put(batch(&seq, frames), Timestamp(1))).unwrap())
        });
        g.bench_function(BenchmarkId::new("postgres, a row per INSERT", frames), |b| {
            b.iter(|| rt.block_on(row_per_insert(&mut glue, &batch(&seq, frames))))
        });
    }
    g.finish();
    c.final_summary();
    let _ = std::fs::remove_dir_all(&dir);
}

//! Scale-out on NATS JetStream: many server instances, each device's messages to exactly one
//! of them at a time, so per-device rule state (windows, durations, absence) stays correct.
//!
//! - Devices' messages enter NATS on their routes' subjects (devices or gateways by MQTT to
//!   NATS's MQTT listener, or a bridge from another broker), and nats-server's subject mapping
//!   ([`partition::mappings`]) moves them into a partition by device:
//!   `tm.p.{partition}.{device}.{kind}`. One JetStream stream ([`NatsConfig::stream`],
//!   replicated) holds them all.
//! - Every instance runs a [`NatsInstance`]: it announces itself and holds leases on a share of
//!   the partitions (ceil(partitions / live instances)) in a JetStream key-value bucket, each
//!   lease renewed by compare-and-set and expiring after [`NatsConfig::lease`] when not.
//! - For each partition it holds, it resets the partition's durable consumer to the ack floor,
//!   rebuilds the rule state of the partition's devices from the store's history
//!   ([`Ingest::rebuild`](crate::ingest::Ingest::rebuild)), then pulls batches, stores them,
//!   runs the rules, sends commands ([`NatsSender`]) and acknowledges each batch after it is
//!   stored. When an instance dies, its leases expire and the others take its partitions.
//!
//! Nothing is lost or doubled: a message is acknowledged only once stored, a frame is stored
//! once per `(device, sequence)`, an alert transition once per `(device, rule, state, at)`,
//! and a command is sent for a transition only by whoever stored it first. The instances share
//! one database ([`PostgresStore`](crate::store::PostgresStore)).
//!
//! When per-device state does not matter (storage only, stateless checks), MQTT 5 shared
//! subscriptions on a clustered broker are enough: see the server's README.

mod error;
mod lease;
pub mod partition;
mod sender;
mod worker;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use telemetra_rules::Engine;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The NATS client this module is built on, for connecting it (`async_nats::connect`).
pub use async_nats;
pub use error::NatsError;
pub use sender::NatsSender;

use crate::ingest::{IngestConfig, IngestStats, StatsHandle};
use crate::store::Store;
use lease::Leases;
use worker::Worker;

/// Makes a partition's rule engine, its rules loaded.
pub type RulesFactory = Arc<dyn Fn() -> Engine + Send + Sync>;

/// How an instance runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NatsConfig {
    /// This instance's name, unique among the instances.
    pub name: String,
    /// The stream of devices' messages: `telemetra` (subjects `tm.p.>`).
    pub stream: String,
    /// The key-value bucket of leases: `telemetra-leases`.
    pub bucket: String,
    /// Partitions (the same for every instance and nats-server's mapping): 16.
    pub partitions: u32,
    /// Replicas of the stream and the bucket: 3 (a cluster of three survives one node lost).
    pub replicas: usize,
    /// How long a lease lasts without renewal (renewed every third of it): 6 s.
    pub lease: Duration,
    /// How long a message pulled and not acknowledged waits to be delivered again: 30 s.
    pub ack_wait: Duration,
    /// The longest a pull waits for messages: 500 ms.
    pub fetch_wait: Duration,
    /// How much history a takeover replays through the rules: 1 hour.
    pub rebuild_window: Duration,
    /// How long the stream keeps messages: 7 days.
    pub retention: Duration,
    /// The pipeline's own configuration.
    pub ingest: IngestConfig,
}

impl NatsConfig {
    /// The defaults, for the instance `name`.
    pub fn new(name: impl Into<String>) -> NatsConfig {
        NatsConfig {
            name: name.into(),
            stream: "telemetra".into(),
            bucket: "telemetra-leases".into(),
            partitions: 16,
            replicas: 3,
            lease: Duration::from_secs(6),
            ack_wait: Duration::from_secs(30),
            fetch_wait: Duration::from_millis(500),
            rebuild_window: Duration::from_secs(3600),
            retention: Duration::from_secs(7 * 24 * 3600),
            ingest: IngestConfig::default(),
        }
    }
}

/// Creates the stream of devices' messages if it does not exist.
pub async fn ensure_stream(js: &jetstream::Context, config: &NatsConfig) -> Result<(), NatsError> {
    js.get_or_create_stream(stream::Config {
        name: config.stream.clone(),
        subjects: vec![format!("{}.>", partition::PARTITIONED)],
        num_replicas: config.replicas,
        max_age: config.retention,
        duplicate_window: Duration::from_secs(120),
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(NatsError::nats)?;
    Ok(())
}

/// The partitions an instance holds, to watch from outside.
#[derive(Debug, Clone, Default)]
pub struct Owned(Arc<Mutex<Vec<u32>>>);

impl Owned {
    /// The partitions held now.
    pub fn get(&self) -> Vec<u32> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, partitions: impl Iterator<Item = u32>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = partitions.collect();
    }
}

/// A lease held and the worker consuming its partition.
struct Held {
    revision: u64,
    stop: watch::Sender<bool>,
    releasing: bool,
}

/// One server instance of many: see the [module docs](self).
pub struct NatsInstance<S> {
    client: async_nats::Client,
    store: Arc<S>,
    rules: RulesFactory,
    config: Arc<NatsConfig>,
    stats: StatsHandle,
    owned: Owned,
}

impl<S> core::fmt::Debug for NatsInstance<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NatsInstance")
            .field("config", &self.config)
            .field("owned", &self.owned.get())
            .finish()
    }
}

impl<S: Store> NatsInstance<S> {
    /// An instance on `client`, storing into `store`, each partition's rules made by `rules`.
    pub fn new(
        client: async_nats::Client,
        store: Arc<S>,
        rules: impl Fn() -> Engine + Send + Sync + 'static,
        config: NatsConfig,
    ) -> NatsInstance<S> {
        NatsInstance {
            client,
            store,
            rules: Arc::new(rules),
            config: Arc::new(config),
            stats: StatsHandle::default(),
            owned: Owned::default(),
        }
    }

    /// A handle on the counters of every partition this instance consumes.
    pub fn stats(&self) -> StatsHandle {
        self.stats.clone()
    }

    /// A handle on the partitions it holds.
    pub fn owned(&self) -> Owned {
        self.owned.clone()
    }

    /// Runs until `stop` completes, then lets its partitions go (each after the batch it is
    /// on, waiting at most a lease's time for it). Dropping the future instead (a crash) leaves
    /// the leases to expire.
    pub async fn run(self, stop: impl Future<Output = ()> + Send) -> Result<IngestStats, NatsError> {
        let js = jetstream::new(self.client.clone());
        let c = &self.config;
        tokio::pin!(stop);
        // JetStream may be electing its leaders (a cluster starting, a node lost): wait for it.
        let leases = loop {
            let ready = async {
                ensure_stream(&js, c).await?;
                Leases::open(&js, &c.bucket, c.lease, c.replicas, &c.name).await
            };
            match ready.await {
                Ok(leases) => break leases,
                Err(e) => tracing::warn!(instance = %c.name, "JetStream not ready: {e}"),
            }
            tokio::select! {
                _ = &mut stop => return Ok(self.stats.get()),
                _ = tokio::time::sleep(c.lease / 3) => {}
            }
        };
        let mut held: BTreeMap<u32, Held> = BTreeMap::new();
        let mut workers: JoinSet<(u32, Result<u32, NatsError>)> = JoinSet::new();
        let mut every = tokio::time::interval(c.lease / 3);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                Some(done) = workers.join_next() => {
                    let (partition, result) = done.unwrap_or_else(|e| (u32::MAX, Err(NatsError::nats(e))));
                    if let Err(e) = &result {
                        tracing::warn!(instance = %c.name, partition, "partition worker ended: {e}");
                    }
                    if held.remove(&partition).is_some() {
                        let _ = leases.release(partition).await;
                    }
                    self.owned.set(held.keys().copied());
                }
                _ = every.tick() => {
                    if let Err(e) = self.balance(&js, &leases, &mut held, &mut workers).await {
                        tracing::warn!(instance = %c.name, "lease round failed: {e}");
                    }
                    self.owned.set(held.keys().copied());
                }
            }
        }
        for h in held.values() {
            let _ = h.stop.send(true);
        }
        // Each worker stops after the batch in hand; one still busy after a lease's time (a
        // JetStream call that never came back, seen once after a node was killed) is aborted:
        // what it acknowledged is stored, the rest comes again to the next owner once its
        // lease expires.
        let drain = async {
            while let Some(done) = workers.join_next().await {
                if let Ok((partition, _)) = done {
                    let _ = leases.release(partition).await;
                }
            }
        };
        if tokio::time::timeout(c.lease, drain).await.is_err() {
            tracing::warn!(instance = %c.name, "partition workers still busy after {:?}: aborted", c.lease);
            workers.shutdown().await;
        }
        self.owned.set(std::iter::empty());
        Ok(self.stats.get())
    }

    /// One lease round: say this instance is alive, renew what it holds (stopping what it
    /// lost), give up what is over its share and take free partitions up to it.
    async fn balance(
        &self,
        js: &jetstream::Context,
        leases: &Leases,
        held: &mut BTreeMap<u32, Held>,
        workers: &mut JoinSet<(u32, Result<u32, NatsError>)>,
    ) -> Result<(), NatsError> {
        let c = &self.config;
        leases.announce().await?;
        let mut lost = Vec::new();
        for (&partition, h) in held.iter_mut() {
            match leases.renew(partition, h.revision).await? {
                Some(revision) => h.revision = revision,
                None => lost.push(partition),
            }
        }
        for partition in lost {
            tracing::warn!(instance = %c.name, partition, "lease lost");
            if let Some(h) = held.remove(&partition) {
                let _ = h.stop.send(true);
            }
        }
        let share = (c.partitions as usize).div_ceil(leases.members().await?);
        let keeping = held.values().filter(|h| !h.releasing).count();
        if keeping > share {
            for h in held.values_mut().rev().filter(|h| !h.releasing).take(keeping - share) {
                h.releasing = true;
                let _ = h.stop.send(true);
            }
        }
        let mut taking = share.saturating_sub(keeping);
        for partition in 0..c.partitions {
            if taking == 0 {
                break;
            }
            if held.contains_key(&partition) {
                continue;
            }
            let Some(revision) = leases.acquire(partition).await? else { continue };
            let (stop, stopped) = watch::channel(false);
            held.insert(partition, Held { revision, stop, releasing: false });
            let worker = Worker {
                partition,
                js: js.clone(),
                store: self.store.clone(),
                rules: self.rules.clone(),
                config: self.config.clone(),
                stats: self.stats.clone(),
                tx: NatsSender::new(self.client.clone()),
                stop: stopped,
            };
            workers.spawn(async move { (partition, worker.run().await) });
            taking -= 1;
        }
        Ok(())
    }
}

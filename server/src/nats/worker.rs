//! One partition, consumed by the instance that holds its lease.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;
use telemetra_core::Route;
use tokio::sync::watch;

use super::partition::{parse_partition_subject, partition, partition_filter};
use super::{NatsConfig, NatsError, NatsSender, RulesFactory};
use crate::ingest::{Ingest, IngestError, StatsHandle};
use crate::store::Store;

/// What a partition's worker needs.
pub(crate) struct Worker<S> {
    pub partition: u32,
    pub js: jetstream::Context,
    pub store: Arc<S>,
    pub rules: RulesFactory,
    pub config: Arc<NatsConfig>,
    pub stats: StatsHandle,
    pub tx: NatsSender,
    pub stop: watch::Receiver<bool>,
}

fn ingest_error(e: IngestError<NatsError>) -> NatsError {
    match e {
        IngestError::Store(e) => NatsError::Store(e),
        IngestError::Transport(e) => e,
    }
}

impl<S: Store> Worker<S> {
    /// The partition's durable consumer, reset to deliver again everything after its ack floor
    /// in stream order: what the previous owner received and did not acknowledge comes first,
    /// before anything newer (a redelivery after the ack wait would come after newer readings,
    /// too late for the rules). Deleting it also cuts off a previous owner that still pulls.
    async fn consumer(&self) -> Result<consumer::PullConsumer, NatsError> {
        let stream = self.js.get_stream(&self.config.stream).await.map_err(NatsError::nats)?;
        let durable = format!("{}-p{}", self.config.stream, self.partition);
        let deliver_policy = match stream.consumer_info(&durable).await {
            Ok(info) => {
                stream.delete_consumer(&durable).await.map_err(NatsError::nats)?;
                consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: info.ack_floor.stream_sequence + 1,
                }
            }
            Err(_) => consumer::DeliverPolicy::All,
        };
        stream
            .create_consumer(consumer::pull::Config {
                durable_name: Some(durable),
                filter_subject: partition_filter(self.partition),
                deliver_policy,
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: self.config.ack_wait,
                max_ack_pending: 10 * self.config.ingest.batch as i64,
                ..Default::default()
            })
            .await
            .map_err(NatsError::nats)
    }

    /// Rebuilds the partition's rule state, then consumes it until told to stop: each batch
    /// stored (and acted on) before it is acknowledged. Returns the partition when it stopped.
    pub(crate) async fn run(mut self) -> Result<u32, NatsError> {
        let consumer = self.consumer().await?;
        let (partitions, mine) = (self.config.partitions, self.partition);
        let mut ingest = Ingest::new(self.store.clone(), (self.rules)(), self.config.ingest.clone())
            .with_scope(move |d| partition(d, partitions) == mine);
        ingest.share_stats(self.stats.clone());
        let devices: Vec<_> = self
            .store
            .devices()
            .await?
            .into_iter()
            .map(|d| d.device)
            .filter(|d| partition(*d, partitions) == self.partition)
            .collect();
        let replayed =
            ingest.rebuild(&devices, self.config.rebuild_window, &mut self.tx).await.map_err(ingest_error)?;
        tracing::info!(partition = self.partition, devices = devices.len(), replayed, "partition taken");
        let tick_every = (self.config.ingest.silence / 4).max(Duration::from_millis(100));
        let mut ticked = Instant::now();
        while !*self.stop.borrow() {
            if ticked.elapsed() >= tick_every {
                ingest.tick(&mut self.tx).await.map_err(ingest_error)?;
                ticked = Instant::now();
            }
            let batch = consumer
                .fetch()
                .max_messages(self.config.ingest.batch)
                .expires(self.config.fetch_wait)
                .messages()
                .await;
            let mut batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(partition = self.partition, "fetch failed: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            // The server ends a fetch when it expires; a fetch whose node died never hears that
            // end, so it is bounded here too (what it did not deliver comes again).
            let deadline = tokio::time::Instant::now() + self.config.fetch_wait + Duration::from_secs(2);
            let mut messages = Vec::new();
            while let Ok(Some(m)) = tokio::time::timeout_at(deadline, batch.next()).await {
                match m {
                    Ok(m) => messages.push(m),
                    Err(e) => tracing::debug!(partition = self.partition, "fetch ended: {e}"),
                }
            }
            if messages.is_empty() {
                continue;
            }
            let routed: Vec<(Route, &[u8])> = messages
                .iter()
                .filter_map(|m| Some((parse_partition_subject(m.subject.as_str())?, m.payload.as_ref())))
                .collect();
            // A batch not stored is not acknowledged, and the partition is given up: whoever
            // takes it next (this instance again, perhaps) resets the consumer to the ack floor
            // and receives the batch again in order.
            ingest.ingest(routed, &mut self.tx).await.map_err(ingest_error)?;
            for m in &messages {
                if let Err(e) = m.ack().await {
                    tracing::debug!(
                        partition = self.partition,
                        "ack failed (delivered again, stored once): {e}"
                    );
                }
            }
        }
        Ok(self.partition)
    }
}

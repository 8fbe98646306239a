//! Partition leases in a JetStream key-value bucket.
//!
//! Key `p.{partition}` holds the name of the instance that owns the partition; `m.{name}` says
//! an instance is alive. Every entry expires after the bucket's age limit (the lease time)
//! unless written again: an owner renews its leases with a compare-and-set on the revision it
//! last wrote, so a lease that expired and was taken by another instance is never renewed by
//! the old owner, who learns it has lost the partition and stops consuming it.

use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use futures_util::StreamExt;

use super::NatsError;

/// The bucket of leases and members.
#[derive(Debug, Clone)]
pub(crate) struct Leases {
    kv: kv::Store,
    stream: stream::Stream,
    bucket: String,
    name: String,
}

impl Leases {
    /// The bucket `bucket` (created if missing) with entries living `lease`, for instance `name`.
    pub(crate) async fn open(
        js: &jetstream::Context,
        bucket: &str,
        lease: Duration,
        replicas: usize,
        name: &str,
    ) -> Result<Leases, NatsError> {
        // The bucket's stream made here, as async-nats would (`KV_{bucket}`, one value per key,
        // rollups, direct gets): its `create_key_value` asks for the account's limits first,
        // a reply nats-server 2.9 shapes differently.
        let stream = js
            .get_or_create_stream(stream::Config {
                name: format!("KV_{bucket}"),
                subjects: vec![format!("$KV.{bucket}.>")],
                max_messages_per_subject: 1,
                max_age: lease,
                num_replicas: replicas,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                discard: stream::DiscardPolicy::New,
                ..Default::default()
            })
            .await
            .map_err(NatsError::nats)?;
        let kv = js.get_key_value(bucket).await.map_err(NatsError::nats)?;
        Ok(Leases { kv, stream, bucket: bucket.into(), name: name.into() })
    }

    /// Says this instance is alive.
    pub(crate) async fn announce(&self) -> Result<(), NatsError> {
        self.kv
            .put(format!("m.{}", self.name), self.name.clone().into())
            .await
            .map_err(|e| NatsError::nats(format!("announce: {e}")))?;
        Ok(())
    }

    /// How many instances said they are alive within the lease time.
    pub(crate) async fn members(&self) -> Result<usize, NatsError> {
        // One request to the bucket's stream leader (its subjects with a message), not a
        // consumer over the keys, which a leader election keeps waiting.
        let mut subjects = self
            .stream
            .info_with_subjects(format!("$KV.{}.m.>", self.bucket))
            .await
            .map_err(|e| NatsError::nats(format!("members: {e}")))?;
        let mut n = 0;
        while let Some(subject) = subjects.next().await {
            subject.map_err(|e| NatsError::nats(format!("members: {e}")))?;
            n += 1;
        }
        Ok(n.max(1))
    }

    /// Takes `partition` if nobody holds it: its revision, or `None` when it is held.
    pub(crate) async fn acquire(&self, partition: u32) -> Result<Option<u64>, NatsError> {
        match self.kv.create(format!("p.{partition}"), self.name.clone().into()).await {
            Ok(revision) => Ok(Some(revision)),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(NatsError::nats(format!("acquire: {e}"))),
        }
    }

    /// Renews a lease held at `revision`: the new revision, or `None` when it was lost.
    pub(crate) async fn renew(&self, partition: u32, revision: u64) -> Result<Option<u64>, NatsError> {
        match self.kv.update(format!("p.{partition}"), self.name.clone().into(), revision).await {
            Ok(revision) => Ok(Some(revision)),
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => self.still_ours(partition).await,
            Err(e) => Err(NatsError::nats(format!("renew: {e}"))),
        }
    }

    /// After a renewal whose confirmation was lost (a JetStream leader changing), the lease may
    /// be ours at a newer revision: that revision, or `None` when another instance holds it.
    async fn still_ours(&self, partition: u32) -> Result<Option<u64>, NatsError> {
        let entry = self.kv.entry(format!("p.{partition}")).await.map_err(NatsError::nats)?;
        Ok(entry
            .filter(|e| e.operation == kv::Operation::Put && e.value.as_ref() == self.name.as_bytes())
            .map(|e| e.revision))
    }

    /// Gives `partition` up (its consumer stopped).
    pub(crate) async fn release(&self, partition: u32) -> Result<(), NatsError> {
        self.kv.delete(format!("p.{partition}")).await.map_err(NatsError::nats)
    }
}

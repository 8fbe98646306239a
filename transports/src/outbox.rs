//! A durable outbox: frames kept on disk between the side that receives them (a device on a
//! serial link) and the side that delivers them (MQTT), so that neither a cloud outage nor a
//! crash of the process loses one. A frame is in the outbox once [`Outbox::push`] returns (the
//! write is committed with fsync), which is when a gateway may acknowledge it to the device;
//! it leaves when [`Outbox::remove`] is called, once the far side confirmed it. Frames come
//! out oldest first.
//!
//! The store is [redb](https://docs.rs/redb): an embedded, crash-safe (copy-on-write B-trees,
//! checksummed commits) key-value store in pure Rust, with no server and no C library; sled,
//! the other pure-Rust candidate, says of itself that it is not production-ready.
//!
//! It is bounded: [`OutboxConfig::max_bytes`] of frames at most (the frames' own bytes; the
//! file adds its pages), each kept at most [`OutboxConfig::ttl`] (older ones are dropped by
//! [`Outbox::expire`] and counted). When a frame does not fit, [`FullPolicy`] decides: refuse
//! it (the device keeps it unacknowledged and sends it again later: backpressure to the edge,
//! nothing dropped), or drop the oldest frames to make room (the newest data wins; what was
//! dropped is counted).
//!
//! ```
//! use telemetra_transports::outbox::{Outbox, OutboxConfig};
//! let dir = std::env::temp_dir().join(format!("outbox-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let outbox = Outbox::open(dir.join("outbox.redb"), OutboxConfig::default()).unwrap();
//! let id = outbox.push(b"a frame", 1_000).unwrap().id;
//! let oldest = outbox.oldest(10).unwrap();
//! assert_eq!(oldest[0], (id, b"a frame".to_vec()));
//! outbox.remove(&[id]).unwrap(); // delivered
//! assert_eq!(outbox.stats().frames, 0);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};

/// Frames by id (in arrival order): when they were stored (ms since the Unix epoch) and their
/// bytes.
const FRAMES: TableDefinition<u64, (u64, &[u8])> = TableDefinition::new("frames");

/// What to do with a frame that does not fit.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum FullPolicy {
    /// Refuse it ([`OutboxError::Full`]): the sender keeps it and tries again (the default:
    /// nothing stored is ever dropped for room).
    #[default]
    RefuseNew,
    /// Drop the oldest frames until it fits (counted in [`OutboxStats::dropped`]).
    DropOldest,
}

/// The outbox's bounds.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct OutboxConfig {
    /// The most frame bytes it holds: 64 MiB.
    pub max_bytes: u64,
    /// How long a frame is kept at most: 7 days.
    pub ttl: Duration,
    /// What happens when a frame does not fit: refuse it.
    pub full: FullPolicy,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            max_bytes: 64 << 20,
            ttl: Duration::from_secs(7 * 24 * 3600),
            full: FullPolicy::RefuseNew,
        }
    }
}

/// What the outbox holds and has done since it was opened.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutboxStats {
    /// Frames held.
    pub frames: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The most bytes held at once since opening.
    pub peak_bytes: u64,
    /// Frames dropped to make room ([`FullPolicy::DropOldest`]).
    pub dropped: u64,
    /// Frames refused for lack of room ([`FullPolicy::RefuseNew`]).
    pub refused: u64,
    /// Frames dropped for being older than the time-to-live.
    pub expired: u64,
}

/// Why the outbox failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    /// The frame does not fit (and the policy is to refuse), or is larger than the whole bound.
    #[error("the outbox is full: {bytes} of {max} bytes held, a frame of {len} does not fit")]
    Full {
        /// Bytes held.
        bytes: u64,
        /// The bound.
        max: u64,
        /// The frame's length.
        len: usize,
    },
    /// The store failed (disk full, permissions, a corrupt file).
    #[error("the outbox store failed: {0}")]
    Store(String),
}

fn store(e: impl std::fmt::Display) -> OutboxError {
    OutboxError::Store(e.to_string())
}

/// A frame stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pushed {
    /// Its id (ids grow with arrival).
    pub id: u64,
    /// Older frames dropped to make room for it.
    pub dropped: u64,
}

/// A durable outbox on a redb file. Cheap to clone (the clones share the store); its calls
/// block on the disk: from async code, run them on a blocking thread.
#[derive(Clone)]
pub struct Outbox {
    db: Arc<Database>,
    config: OutboxConfig,
    state: Arc<Mutex<State>>,
}

struct State {
    next_id: u64,
    stats: OutboxStats,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("config", &self.config).field("stats", &self.stats()).finish()
    }
}

impl Outbox {
    /// Opens (or creates) the outbox at `path`, with what an earlier run left in it.
    pub fn open(path: impl AsRef<Path>, config: OutboxConfig) -> Result<Outbox, OutboxError> {
        let db = Database::create(path).map_err(store)?;
        let txn = db.begin_write().map_err(store)?;
        let (next_id, frames, bytes) = {
            let table = txn.open_table(FRAMES).map_err(store)?;
            let next = table.last().map_err(store)?.map_or(0, |(k, _)| k.value() + 1);
            let mut bytes = 0u64;
            for entry in table.iter().map_err(store)? {
                let (_, v) = entry.map_err(store)?;
                bytes += v.value().1.len() as u64;
            }
            (next, table.len().map_err(store)?, bytes)
        };
        txn.commit().map_err(store)?;
        let stats = OutboxStats { frames, bytes, peak_bytes: bytes, ..OutboxStats::default() };
        Ok(Outbox { db: Arc::new(db), config, state: Arc::new(Mutex::new(State { next_id, stats })) })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What it holds, and its counters.
    pub fn stats(&self) -> OutboxStats {
        self.state().stats
    }

    /// Stores `frame` durably (received at `now`, ms since the Unix epoch); it is on disk when
    /// this returns.
    pub fn push(&self, frame: &[u8], now: u64) -> Result<Pushed, OutboxError> {
        let mut state = self.state();
        let len = frame.len() as u64;
        let max = self.config.max_bytes;
        let full = OutboxError::Full { bytes: state.stats.bytes, max, len: frame.len() };
        if len > max || (state.stats.bytes + len > max && self.config.full == FullPolicy::RefuseNew) {
            state.stats.refused += 1;
            return Err(full);
        }
        let id = state.next_id;
        let txn = self.db.begin_write().map_err(store)?;
        let (mut bytes, mut dropped, mut frames) = (state.stats.bytes, 0u64, state.stats.frames);
        {
            let mut table = txn.open_table(FRAMES).map_err(store)?;
            while bytes + len > max {
                let Some((_, v)) = table.pop_first().map_err(store)? else { break };
                bytes -= v.value().1.len() as u64;
                dropped += 1;
                frames -= 1;
            }
            table.insert(id, (now, frame)).map_err(store)?;
        }
        txn.commit().map_err(store)?;
        state.next_id = id + 1;
        state.stats.bytes = bytes + len;
        state.stats.frames = frames + 1;
        state.stats.dropped += dropped;
        state.stats.peak_bytes = state.stats.peak_bytes.max(state.stats.bytes);
        Ok(Pushed { id, dropped })
    }

    /// The `n` oldest frames, with their ids.
    pub fn oldest(&self, n: usize) -> Result<Vec<(u64, Vec<u8>)>, OutboxError> {
        let txn = self.db.begin_read().map_err(store)?;
        let table = txn.open_table(FRAMES).map_err(store)?;
        let mut out = Vec::with_capacity(n.min(1024));
        for entry in table.iter().map_err(store)?.take(n) {
            let (k, v) = entry.map_err(store)?;
            out.push((k.value(), v.value().1.to_vec()));
        }
        Ok(out)
    }

    /// Removes the frames `ids` (delivered); ids not held are ignored.
    pub fn remove(&self, ids: &[u64]) -> Result<(), OutboxError> {
        let mut state = self.state();
        let txn = self.db.begin_write().map_err(store)?;
        let (mut bytes, mut frames) = (state.stats.bytes, state.stats.frames);
        {
            let mut table = txn.open_table(FRAMES).map_err(store)?;
            for id in ids {
                if let Some(v) = table.remove(id).map_err(store)? {
                    bytes -= v.value().1.len() as u64;
                    frames -= 1;
                }
            }
        }
        txn.commit().map_err(store)?;
        state.stats.bytes = bytes;
        state.stats.frames = frames;
        Ok(())
    }

    /// Drops the frames stored before `now - ttl`; returns how many.
    pub fn expire(&self, now: u64) -> Result<u64, OutboxError> {
        let cutoff = now.saturating_sub(self.config.ttl.as_millis() as u64);
        let mut state = self.state();
        let txn = self.db.begin_write().map_err(store)?;
        let (mut bytes, mut gone) = (state.stats.bytes, 0u64);
        {
            let mut table = txn.open_table(FRAMES).map_err(store)?;
            // Oldest first: ids follow arrival, and arrival follows the clock.
            loop {
                let expired = match table.first().map_err(store)? {
                    Some((_, v)) => v.value().0 < cutoff,
                    None => false,
                };
                if !expired {
                    break;
                }
                if let Some((_, v)) = table.pop_first().map_err(store)? {
                    bytes -= v.value().1.len() as u64;
                    gone += 1;
                }
            }
        }
        txn.commit().map_err(store)?;
        state.stats.bytes = bytes;
        state.stats.frames -= gone;
        state.stats.expired += gone;
        Ok(gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("telemetra-outbox-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn frames_survive_reopening_and_come_out_oldest_first() {
        let d = dir("reopen");
        let path = d.join("o.redb");
        {
            let o = Outbox::open(&path, OutboxConfig::default()).unwrap();
            for i in 0..10u8 {
                o.push(&[i; 5], 1_000).unwrap();
            }
            o.remove(&[0, 1]).unwrap();
        }
        let o = Outbox::open(&path, OutboxConfig::default()).unwrap();
        assert_eq!((o.stats().frames, o.stats().bytes), (8, 40));
        let oldest = o.oldest(3).unwrap();
        assert_eq!(oldest.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!(oldest[0].1, vec![2; 5]);
        assert_eq!(o.push(b"x", 1_000).unwrap().id, 10, "ids go on after the last");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_bound_holds_under_either_policy() {
        let d = dir("bound");
        let config = OutboxConfig { max_bytes: 100, ..OutboxConfig::default() };
        let refuse = Outbox::open(d.join("r.redb"), config).unwrap();
        for _ in 0..10 {
            refuse.push(&[0; 10], 0).unwrap();
        }
        assert!(matches!(refuse.push(&[0; 1], 0), Err(OutboxError::Full { bytes: 100, max: 100, len: 1 })));
        assert_eq!((refuse.stats().refused, refuse.stats().frames), (1, 10));
        let drop =
            Outbox::open(d.join("d.redb"), OutboxConfig { full: FullPolicy::DropOldest, ..config }).unwrap();
        for i in 0..25u8 {
            drop.push(&[i; 10], 0).unwrap();
        }
        let s = drop.stats();
        assert_eq!((s.frames, s.bytes, s.dropped, s.peak_bytes), (10, 100, 15, 100));
        assert_eq!(drop.oldest(1).unwrap()[0].1, vec![15; 10], "the newest ten kept");
        assert!(matches!(drop.push(&[0; 101], 0), Err(OutboxError::Full { .. })), "larger than the bound");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn frames_older_than_the_ttl_expire() {
        let d = dir("ttl");
        let o = Outbox::open(
            d.join("t.redb"),
            OutboxConfig { ttl: Duration::from_secs(60), ..OutboxConfig::default() },
        )
        .unwrap();
        o.push(b"old", 1_000).unwrap();
        o.push(b"older", 2_000).unwrap();
        o.push(b"new", 100_000).unwrap();
        assert_eq!(o.expire(70_000).unwrap(), 2);
        let s = o.stats();
        assert_eq!((s.frames, s.bytes, s.expired), (1, 3, 2));
        std::fs::remove_dir_all(&d).unwrap();
    }
}

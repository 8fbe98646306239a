//! Storage: what the ingest pipeline keeps and what a dashboard asks of it, behind one trait
//! ([`Store`]) with a backend per database. [`SqliteStore`] is the embedded default (SQLite,
//! bundled: no service to run); [`PostgresStore`] (feature `postgres`) keeps it in a
//! PostgreSQL server, which many server instances can share.
//!
//! Every frame is stored once: the store remembers each `(device, sequence, digest of the
//! content)` it took, and a frame seen again (a redelivery after a reconnect: the same bytes)
//! changes nothing, while a device that restarted and numbers its frames from 0 again is heard
//! (its new frames differ from the old ones of the same numbers). Status frames are not
//! deduplicated: every transport numbers them 0 (birth, last will, goodbye), and a status set
//! again changes nothing but its time. A batch of frames is one transaction.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use telemetra_codec::{Frame, Message};
//! use telemetra_core::{ChannelId, DeviceId, Reading, Timestamp};
//! use telemetra_server::store::{SqliteStore, Store};
//!
//! let store = SqliteStore::in_memory()?;
//! let r = Reading::new(ChannelId(1), Timestamp(1_000), 21.5);
//! let frame = Frame::new(DeviceId(7), 1, Message::Readings([r].into_iter().collect()));
//! let stored = store.put(vec![frame.clone(), frame].into(), Timestamp(2_000)).await?;
//! assert_eq!((stored.frames, stored.duplicates, stored.fresh), (1, 1, vec![true, false]));
//! let latest = store.latest(DeviceId(7)).await?;
//! assert_eq!(latest[0].value.as_f64(), Some(21.5));
//! # Ok::<(), telemetra_server::store::StoreError>(())
//! # }).unwrap();
//! ```

mod codes;
mod key;
mod listing;
#[cfg(feature = "postgres")]
mod postgres;
mod rows;
mod sqlite;

use std::future::Future;
use std::sync::Arc;

#[cfg(feature = "dashboard")]
pub(crate) use codes::severity_text;
pub(crate) use codes::state_text;
pub use listing::{DeviceFilter, DevicePage, Presence};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresStore;
pub use rows::{AlertRow, CommandRow, DeviceRow, Latest, Point, Stored};
pub use sqlite::SqliteStore;
use telemetra_codec::Frame;
use telemetra_core::{
    Alert, AlertState, ChannelId, Command, CommandId, DeviceId, DeviceStatus, Reading, Timestamp,
};

/// A store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database refused or failed an operation.
    #[error("database: {0}")]
    Database(String),
    /// A stored value does not decode (written by a newer build, or damaged).
    #[error("a stored value does not decode: {0}")]
    Corrupt(String),
    /// The database's schema is newer than this build knows.
    #[error("the database's schema version {found} is newer than this build's {known}")]
    SchemaTooNew {
        /// The database's.
        found: i64,
        /// This build's.
        known: i64,
    },
}

/// Which alarms [`Store::alarms`] returns, by the state they stand in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlarmFilter {
    /// Every alarm, cleared ones included.
    #[default]
    Any,
    /// The active ones: raised, acknowledged or not.
    Active,
    /// Those standing in this state (`Raised`: active and not yet acknowledged;
    /// `Acknowledged`: active and seen; `Cleared`: over).
    In(AlertState),
}

impl AlarmFilter {
    /// As the stores' queries take it: the state's word or none, and whether only active.
    pub(crate) fn params(self) -> (Option<&'static str>, bool) {
        match self {
            AlarmFilter::Any => (None, false),
            AlarmFilter::Active => (None, true),
            AlarmFilter::In(state) => (Some(state_text(state)), false),
        }
    }
}

/// Where telemetry is kept. Every method is async so that a backend may talk to a database
/// server; an embedded one runs its work off the async threads.
pub trait Store: Send + Sync + 'static {
    /// Stores `frames` (received at `received_at`) in one transaction: readings, alerts,
    /// acknowledgements, device descriptors, status and heartbeats. A frame stored before
    /// (the same device, sequence and content; see the module's docs) is skipped and counted
    /// as a duplicate.
    fn put(
        &self,
        frames: Arc<[Frame]>,
        received_at: Timestamp,
    ) -> impl Future<Output = Result<Stored, StoreError>> + Send;

    /// Records an alert transition the server's own rules decided (a device's alerts arrive
    /// as frames) and, in the same transaction, the `commands` to its device the transition
    /// decided, pending until [sent](Self::command_sent). A transition is stored once: the same
    /// `(device, rule, state, at)` again (decided again by an instance rebuilding a device's
    /// rule state from its history) is skipped with its commands. Returns whether it was new.
    fn put_alert(
        &self,
        alert: Alert,
        commands: Vec<Command>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records a command decided for `device`, pending until [sent](Self::command_sent) (its
    /// acknowledgement arrives later as a frame). A command is recorded before it is sent, so
    /// that a server that dies in between leaves it [pending](Self::pending_commands) for the
    /// next one, not lost.
    fn put_command(
        &self,
        device: DeviceId,
        command: Command,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks `device`'s command `id` as taken by the transport at `at`.
    fn command_sent(
        &self,
        device: DeviceId,
        id: CommandId,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The commands recorded but not sent that have not expired at `now`, oldest first, at
    /// most `limit`.
    fn pending_commands(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<(DeviceId, Command)>, StoreError>> + Send;

    /// Sets `device`'s status as the server sees it (`Lost` after a silence, say).
    fn set_status(
        &self,
        device: DeviceId,
        status: DeviceStatus,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every device known, with its status, when it was last heard and its descriptor.
    fn devices(&self) -> impl Future<Output = Result<Vec<DeviceRow>, StoreError>> + Send;

    /// The devices `filter` matches, by id, from the `offset`th on, at most `limit`, with how
    /// many match and every device counted by [`Presence`]: one page of a fleet's list, read
    /// without decoding the other devices.
    fn device_page(
        &self,
        filter: DeviceFilter,
        offset: u64,
        limit: u32,
    ) -> impl Future<Output = Result<DevicePage, StoreError>> + Send;

    /// One device, as [`devices`](Self::devices) lists it; `None` if never heard of.
    fn device(&self, device: DeviceId) -> impl Future<Output = Result<Option<DeviceRow>, StoreError>> + Send;

    /// The latest value of each of `device`'s channels.
    fn latest(&self, device: DeviceId) -> impl Future<Output = Result<Vec<Latest>, StoreError>> + Send;

    /// `device`'s `channel` from `from` (inclusive) to `to` (exclusive), in at most `points`
    /// time buckets of equal width: per bucket, its first timestamp, the mean, minimum and
    /// maximum of the numeric readings, and their count.
    fn series(
        &self,
        device: DeviceId,
        channel: ChannelId,
        from: Timestamp,
        to: Timestamp,
        points: u32,
    ) -> impl Future<Output = Result<Vec<Point>, StoreError>> + Send;

    /// `device`'s readings (every channel) from `from` (inclusive) to `to` (exclusive), oldest
    /// first, at most `limit`: the raw history, as a server replays it through its rules.
    fn readings(
        &self,
        device: DeviceId,
        from: Timestamp,
        to: Timestamp,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Reading>, StoreError>> + Send;

    /// Alert transitions, newest first, at most `limit`; only those in `state` when given.
    fn alerts(
        &self,
        state: Option<AlertState>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<AlertRow>, StoreError>> + Send;

    /// The alarms as they stand: the latest transition recorded for each device's rule, newest
    /// first, at most `limit`, those `filter` keeps. Latest as recorded, not as stamped: an
    /// operator's acknowledgement (stamped by the server's clock) follows the raise it answers
    /// (stamped by the device's) whichever clock runs ahead.
    fn alarms(
        &self,
        filter: AlarmFilter,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<AlertRow>, StoreError>> + Send;

    /// The commands decided for `device`, newest first, with when they were sent and their
    /// acknowledgements.
    fn commands(&self, device: DeviceId) -> impl Future<Output = Result<Vec<CommandRow>, StoreError>> + Send;

    /// The highest command id sent to `device` (a server restarting goes on from it).
    fn last_command_id(
        &self,
        device: DeviceId,
    ) -> impl Future<Output = Result<Option<u32>, StoreError>> + Send;

    /// Deletes readings and alerts older than `before` (and the frame keys older than it):
    /// retention by age. Returns the readings deleted.
    fn retain(&self, before: Timestamp) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

//! The SQLite store (rusqlite, bundled): one connection in WAL mode, its work on tokio's
//! blocking threads.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::de::DeserializeOwned;
use telemetra_codec::{Frame, Message};
use telemetra_core::{
    Alert, AlertState, ChannelId, Command, CommandId, Device, DeviceId, DeviceStatus, Quality, Reading,
    Timestamp,
};

use super::codes::{self, blob, severity_of, severity_text, state_of, state_text, status_of, status_text};
use super::key::frame_digest;
use super::listing::{presence_of, presence_sql};
use super::{
    AlarmFilter, AlertRow, CommandRow, DeviceFilter, DevicePage, DeviceRow, Latest, Point, Store, StoreError,
    Stored,
};

/// The schema, one migration per version; a database is brought to the last on open.
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE frames (
    device INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (device, seq)
) WITHOUT ROWID;
CREATE TABLE devices (
    device INTEGER PRIMARY KEY,
    status TEXT,
    status_at INTEGER,
    last_seen INTEGER,
    info BLOB
);
CREATE TABLE readings (
    device INTEGER NOT NULL,
    channel INTEGER NOT NULL,
    at INTEGER NOT NULL,
    num REAL,
    value BLOB NOT NULL,
    quality INTEGER NOT NULL
);
CREATE INDEX readings_by_channel ON readings (device, channel, at);
CREATE INDEX readings_by_time ON readings (at);
CREATE TABLE latest (
    device INTEGER NOT NULL,
    channel INTEGER NOT NULL,
    at INTEGER NOT NULL,
    value BLOB NOT NULL,
    quality INTEGER NOT NULL,
    PRIMARY KEY (device, channel)
);
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    device INTEGER NOT NULL,
    rule TEXT NOT NULL,
    state TEXT NOT NULL,
    severity TEXT NOT NULL,
    channel INTEGER,
    value BLOB,
    at INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX alerts_by_state ON alerts (state, at);
CREATE TABLE commands (
    device INTEGER NOT NULL,
    id INTEGER NOT NULL,
    issued_at INTEGER NOT NULL,
    command BLOB NOT NULL,
    ack BLOB,
    PRIMARY KEY (device, id)
);
",
    "
DELETE FROM alerts WHERE id NOT IN (SELECT MIN(id) FROM alerts GROUP BY device, rule, state, at);
CREATE UNIQUE INDEX alerts_once ON alerts (device, rule, state, at);
",
    // A frame is known by its content's digest too (see `key.rs`); the keys stored before
    // get digest 0, which no frame has on purpose (a redelivery of one of them, across the
    // upgrade, is stored again).
    "
CREATE TABLE frames_keyed (
    device INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    digest INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (device, seq, digest)
) WITHOUT ROWID;
INSERT INTO frames_keyed SELECT device, seq, 0, received_at FROM frames;
DROP TABLE frames;
ALTER TABLE frames_keyed RENAME TO frames;
",
    // A command is recorded before it is sent (pending until `sent_at`); those recorded
    // before were recorded once sent.
    "
ALTER TABLE commands ADD COLUMN sent_at INTEGER;
ALTER TABLE commands ADD COLUMN expires_at INTEGER;
UPDATE commands SET sent_at = issued_at;
CREATE INDEX commands_pending ON commands (issued_at) WHERE sent_at IS NULL;
",
    // A device's model beside its descriptor, for listings to search (filled from the
    // descriptors stored before by `fill_models`).
    "
ALTER TABLE devices ADD COLUMN model TEXT;
",
];

/// The migration that added `devices.model`.
const MODEL_MIGRATION: usize = 5;

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

// SQLite integers are i64: ids and times are stored as the same 64 bits.
fn i(v: u64) -> i64 {
    v as i64
}

fn unblob<T: DeserializeOwned>(b: &[u8]) -> rusqlite::Result<T> {
    codes::unblob(b).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(b.len(), rusqlite::types::Type::Blob, Box::new(e))
    })
}

fn bad_text(what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, what.into())
}

/// The latest recorded transition of each `(device, rule)` (see [`Store::alarms`]).
const ALARMS: &str = "SELECT device, rule, state, severity, channel, value, at, message FROM alerts a
     WHERE (?1 IS NULL OR state = ?1) AND (?3 = 0 OR state <> 'cleared') AND NOT EXISTS (
         SELECT 1 FROM alerts b WHERE b.device = a.device AND b.rule = a.rule
             AND b.id > a.id)
     ORDER BY at DESC, id DESC LIMIT ?2";

fn alert_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRow> {
    let value: Option<Vec<u8>> = r.get(5)?;
    Ok(AlertRow {
        device: DeviceId(r.get::<_, i64>(0)? as u64),
        rule: r.get(1)?,
        state: state_of(&r.get::<_, String>(2)?).ok_or_else(|| bad_text("state"))?,
        severity: severity_of(&r.get::<_, String>(3)?).ok_or_else(|| bad_text("severity"))?,
        channel: r.get::<_, Option<u16>>(4)?.map(ChannelId),
        value: value.map(|b| unblob(&b)).transpose()?,
        at: Timestamp(r.get::<_, i64>(6)? as u64),
        message: r.get(7)?,
    })
}

/// Fills `devices.model` from the descriptors stored before it existed.
fn fill_models(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    let infos: Vec<(i64, Vec<u8>)> = tx
        .prepare("SELECT device, info FROM devices WHERE info IS NOT NULL")
        .and_then(|mut q| q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .map_err(db)?;
    for (device, info) in infos {
        let info: Device = codes::unblob(&info).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.execute("UPDATE devices SET model = ?2 WHERE device = ?1", params![device, info.model.as_str()])
            .map_err(db)?;
    }
    Ok(())
}

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl core::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        Self::with(Connection::open(path).map_err(db)?)
    }

    /// A database in memory, gone with the store.
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        Self::with(Connection::open_in_memory().map_err(db)?)
    }

    fn with(mut conn: Connection) -> Result<SqliteStore, StoreError> {
        // WAL: readers (a dashboard) do not block the writer; NORMAL: a commit is durable
        // across a process crash (an OS crash may lose the last transactions, never corrupt).
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )
        .map_err(db)?;
        migrate(&mut conn)?;
        Ok(SqliteStore { conn: Arc::new(Mutex::new(conn)) })
    }

    /// Runs `f` on the connection on a blocking thread.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || f(&mut conn.lock().unwrap_or_else(|e| e.into_inner())))
            .await
            .map_err(|e| StoreError::Database(format!("the store's task failed: {e}")))?
    }
}

/// Brings the schema to the last version, each step in a transaction.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)").map_err(db)?;
    let version: i64 = conn
        .query_row("SELECT COALESCE(MAX(version), 0) FROM schema_version", [], |r| r.get(0))
        .map_err(db)?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::SchemaTooNew { found: version, known });
    }
    for (n, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction().map_err(db)?;
        tx.execute_batch(sql).map_err(db)?;
        if n + 1 == MODEL_MIGRATION {
            fill_models(&tx)?;
        }
        tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [n as i64 + 1]).map_err(db)?;
        tx.commit().map_err(db)?;
    }
    Ok(())
}

fn put_reading(tx: &Transaction<'_>, device: DeviceId, r: &Reading) -> Result<(), StoreError> {
    let value = blob(&r.value)?;
    tx.prepare_cached(
        "INSERT INTO readings (device, channel, at, num, value, quality) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| {
        s.execute(params![i(device.0), r.channel.0, i(r.at.0), r.value.as_f64(), value, r.quality.0])
    })
    .map_err(db)?;
    tx.prepare_cached(
        "INSERT INTO latest (device, channel, at, value, quality) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (device, channel) DO UPDATE SET at = excluded.at, value = excluded.value,
         quality = excluded.quality WHERE excluded.at >= latest.at",
    )
    .and_then(|mut s| s.execute(params![i(device.0), r.channel.0, i(r.at.0), value, r.quality.0]))
    .map_err(db)?;
    Ok(())
}

fn put_frame(
    tx: &Transaction<'_>,
    frame: &Frame,
    received_at: Timestamp,
    stored: &mut Stored,
) -> Result<(), StoreError> {
    let new = match frame_digest(frame) {
        Some(digest) => tx
            .prepare_cached(
                "INSERT OR IGNORE INTO frames (device, seq, digest, received_at) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| s.execute(params![i(frame.device.0), frame.seq, digest, i(received_at.0)]))
            .map_err(db)?,
        None => 1,
    };
    stored.fresh.push(new != 0);
    if new == 0 {
        stored.duplicates += 1;
        return Ok(());
    }
    stored.frames += 1;
    let device = frame.device;
    tx.prepare_cached(
        "INSERT INTO devices (device, last_seen) VALUES (?1, ?2)
         ON CONFLICT (device) DO UPDATE SET last_seen = MAX(COALESCE(last_seen, 0), excluded.last_seen)",
    )
    .and_then(|mut s| s.execute(params![i(device.0), i(received_at.0)]))
    .map_err(db)?;
    match &frame.message {
        Message::Readings(rs) => {
            for r in rs {
                put_reading(tx, device, r)?;
                stored.readings += 1;
            }
        }
        Message::Batch(b) => {
            let readings = b.readings().map_err(|e| StoreError::Corrupt(e.to_string()))?;
            for r in &readings {
                put_reading(tx, device, r)?;
            }
            stored.readings += readings.len() as u64;
        }
        Message::Alert(a) => {
            put_alert(tx, a)?;
        }
        Message::Ack(ack) => {
            let ack_blob = blob(ack)?;
            tx.prepare_cached("UPDATE commands SET ack = ?3 WHERE device = ?1 AND id = ?2")
                .and_then(|mut s| s.execute(params![i(device.0), ack.command.0, ack_blob]))
                .map_err(db)?;
        }
        Message::DeviceInfo(info) => {
            let info_blob = blob(info)?;
            tx.prepare_cached("UPDATE devices SET info = ?2, model = ?3 WHERE device = ?1")
                .and_then(|mut s| s.execute(params![i(device.0), info_blob, info.model.as_str()]))
                .map_err(db)?;
        }
        Message::Status(status) => set_status(tx, device, *status, received_at)?,
        // A heartbeat says the device lives (last_seen, above); commands and rules go the
        // other way and are not stored from frames.
        Message::Heartbeat(_) | Message::Command(_) | Message::Rule(_) => {}
    }
    Ok(())
}

fn put_command(conn: &Connection, device: DeviceId, command: &Command) -> Result<(), StoreError> {
    let bytes = blob(command)?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO commands (device, id, issued_at, expires_at, command, sent_at, ack)
         VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL)",
    )
    .and_then(|mut s| {
        s.execute(params![
            i(device.0),
            command.id.0,
            i(command.issued_at.0),
            command.expires_at.map(|t| i(t.0)),
            bytes
        ])
    })
    .map_err(db)?;
    Ok(())
}

fn put_alert(conn: &Connection, a: &Alert) -> Result<bool, StoreError> {
    let value = a.value.as_ref().map(blob).transpose()?;
    let new = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO alerts (device, rule, state, severity, channel, value, at, message)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .and_then(|mut s| {
            s.execute(params![
                i(a.device.0),
                a.rule.as_str(),
                state_text(a.state),
                severity_text(a.severity),
                a.channel.map(|c| c.0),
                value,
                i(a.at.0),
                a.message.as_str()
            ])
        })
        .map_err(db)?;
    Ok(new == 1)
}

fn set_status(
    conn: &Connection,
    device: DeviceId,
    status: DeviceStatus,
    at: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO devices (device, status, status_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (device) DO UPDATE SET status = excluded.status, status_at = excluded.status_at",
    )
    .and_then(|mut s| s.execute(params![i(device.0), status_text(status), i(at.0)]))
    .map_err(db)?;
    Ok(())
}

/// A row of `SELECT device, status, status_at, last_seen, info FROM devices`.
fn device_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRow> {
    let status: Option<String> = r.get(1)?;
    let status = match status {
        Some(s) => {
            Some((status_of(&s).ok_or_else(|| bad_text("status"))?, Timestamp(r.get::<_, i64>(2)? as u64)))
        }
        None => None,
    };
    let info: Option<Vec<u8>> = r.get(4)?;
    Ok(DeviceRow {
        device: DeviceId(r.get::<_, i64>(0)? as u64),
        status,
        last_seen: r.get::<_, Option<i64>>(3)?.map(|v| Timestamp(v as u64)),
        info: info.map(|b| unblob(&b)).transpose()?,
    })
}

impl Store for SqliteStore {
    async fn put(&self, frames: Arc<[Frame]>, received_at: Timestamp) -> Result<Stored, StoreError> {
        self.run(move |conn| {
            let tx = conn.transaction().map_err(db)?;
            let mut stored = Stored::default();
            for frame in frames.iter() {
                put_frame(&tx, frame, received_at, &mut stored)?;
            }
            tx.commit().map_err(db)?;
            Ok(stored)
        })
        .await
    }

    async fn put_alert(&self, alert: Alert, commands: Vec<Command>) -> Result<bool, StoreError> {
        self.run(move |conn| {
            let tx = conn.transaction().map_err(db)?;
            let new = put_alert(&tx, &alert)?;
            if new {
                for command in &commands {
                    put_command(&tx, alert.device, command)?;
                }
            }
            tx.commit().map_err(db)?;
            Ok(new)
        })
        .await
    }

    async fn put_command(&self, device: DeviceId, command: Command) -> Result<(), StoreError> {
        self.run(move |conn| put_command(conn, device, &command)).await
    }

    async fn command_sent(&self, device: DeviceId, id: CommandId, at: Timestamp) -> Result<(), StoreError> {
        self.run(move |conn| {
            conn.execute(
                "UPDATE commands SET sent_at = ?3 WHERE device = ?1 AND id = ?2",
                params![i(device.0), id.0, i(at.0)],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn pending_commands(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<(DeviceId, Command)>, StoreError> {
        self.run(move |conn| {
            let mut q = conn
                .prepare_cached(
                    "SELECT device, command FROM commands
                     WHERE sent_at IS NULL AND (expires_at IS NULL OR expires_at > ?1)
                     ORDER BY issued_at, device, id LIMIT ?2",
                )
                .map_err(db)?;
            let rows = q
                .query_map(params![i(now.0), limit], |r| {
                    Ok((DeviceId(r.get::<_, i64>(0)? as u64), unblob(&r.get::<_, Vec<u8>>(1)?)?))
                })
                .map_err(db)?;
            rows.collect::<Result<_, _>>().map_err(db)
        })
        .await
    }

    async fn set_status(
        &self,
        device: DeviceId,
        status: DeviceStatus,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.run(move |conn| set_status(conn, device, status, at)).await
    }

    async fn devices(&self) -> Result<Vec<DeviceRow>, StoreError> {
        self.run(|conn| {
            let mut q = conn
                .prepare("SELECT device, status, status_at, last_seen, info FROM devices ORDER BY device")
                .map_err(db)?;
            let rows = q.query_map([], device_row).map_err(db)?;
            rows.collect::<Result<_, _>>().map_err(db)
        })
        .await
    }

    async fn device_page(
        &self,
        filter: DeviceFilter,
        offset: u64,
        limit: u32,
    ) -> Result<DevicePage, StoreError> {
        self.run(move |conn| {
            let presence = presence_sql("?1");
            let since = i(filter.heard_since.0);
            let mut counts = [0u64; 3];
            let mut q =
                conn.prepare_cached(&format!("SELECT {presence} AS p, count(*) FROM devices GROUP BY p")).map_err(db)?;
            let rows = q.query_map([since], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))).map_err(db)?;
            for row in rows {
                let (word, n) = row.map_err(db)?;
                if let Some(p) = presence_of(&word) {
                    counts[p as usize] += n as u64;
                }
            }
            let listed = format!(
                "SELECT device, status, status_at, last_seen, info FROM devices
                 WHERE (?2 = '' OR instr(printf('%x', device), ?2) > 0 OR instr(lower(coalesce(model, '')), ?2) > 0)
                   AND (?3 IS NULL OR {presence} = ?3)"
            );
            let (needle, word) = (filter.needle(), filter.presence_word());
            let matching: i64 = conn
                .prepare_cached(&format!("SELECT count(*) FROM ({listed})"))
                .and_then(|mut q| q.query_row(params![since, needle, word], |r| r.get(0)))
                .map_err(db)?;
            let mut q = conn.prepare_cached(&format!("{listed} ORDER BY device LIMIT ?4 OFFSET ?5")).map_err(db)?;
            let rows = q
                .query_map(params![since, needle, word, limit, offset.min(i64::MAX as u64) as i64], device_row)
                .map_err(db)?;
            let rows = rows.collect::<Result<_, _>>().map_err(db)?;
            Ok(DevicePage { rows, matching: matching as u64, counts })
        })
        .await
    }

    async fn device(&self, device: DeviceId) -> Result<Option<DeviceRow>, StoreError> {
        self.run(move |conn| {
            conn.prepare_cached(
                "SELECT device, status, status_at, last_seen, info FROM devices WHERE device = ?1",
            )
            .and_then(|mut q| q.query_row([i(device.0)], device_row).optional())
            .map_err(db)
        })
        .await
    }

    async fn latest(&self, device: DeviceId) -> Result<Vec<Latest>, StoreError> {
        self.run(move |conn| {
            let mut q = conn
                .prepare("SELECT channel, at, value, quality FROM latest WHERE device = ?1 ORDER BY channel")
                .map_err(db)?;
            let rows = q
                .query_map([i(device.0)], |r| {
                    Ok(Latest {
                        channel: ChannelId(r.get(0)?),
                        at: Timestamp(r.get::<_, i64>(1)? as u64),
                        value: unblob(&r.get::<_, Vec<u8>>(2)?)?,
                        quality: Quality(r.get(3)?),
                    })
                })
                .map_err(db)?;
            rows.collect::<Result<_, _>>().map_err(db)
        })
        .await
    }

    async fn series(
        &self,
        device: DeviceId,
        channel: ChannelId,
        from: Timestamp,
        to: Timestamp,
        points: u32,
    ) -> Result<Vec<Point>, StoreError> {
        let width = codes::bucket_width(from.0, to.0, points);
        self.run(move |conn| {
            let mut q = conn
                .prepare(
                    "SELECT (at - ?3) / ?5 AS bucket, MIN(at), AVG(num), MIN(num), MAX(num), COUNT(num)
                     FROM readings
                     WHERE device = ?1 AND channel = ?2 AND at >= ?3 AND at < ?4 AND num IS NOT NULL
                     GROUP BY bucket ORDER BY bucket",
                )
                .map_err(db)?;
            let rows = q
                .query_map(params![i(device.0), channel.0, i(from.0), i(to.0), i(width)], |r| {
                    Ok(Point {
                        at: Timestamp(r.get::<_, i64>(1)? as u64),
                        mean: r.get(2)?,
                        min: r.get(3)?,
                        max: r.get(4)?,
                        count: r.get::<_, i64>(5)? as u64,
                    })
                })
                .map_err(db)?;
            rows.collect::<Result<_, _>>().map_err(db)
        })
        .await
    }

    async fn readings(
        &self,
        device: DeviceId,
        from: Timestamp,
        to: Timestamp,
        limit: u32,
    ) -> Result<Vec<Reading>, StoreError> {
        self.run(move |conn| {
            let mut q = conn
                .prepare(
                    "SELECT channel, at, value, quality FROM readings
                     WHERE device = ?1 AND at >= ?2 AND at < ?3 ORDER BY at, rowid LIMIT ?4",
                )
                .map_err(db)?;
            let rows = q
                .query_map(params![i(device.0), i(from.0), i(to.0), limit], |r| {
                    Ok(Reading {
                        channel: ChannelId(r.get(0)?),
                        at: Timestamp(r.get::<_, i64>(1)? as u64),
                        value: unblob(&r.get::<_, Vec<u8>>(2)?)?,
                        quality: Quality(r.get(3)?),
                    })
                })
                .map_err(db)?;
            rows.collect::<Result<_, _>>().map_err(db)
        })
        .await
    }

    async fn alerts(&self, state: Option<AlertState>, limit: u32) -> Result<Vec<AlertRow>, StoreError> {
        self.run(move |conn| {
            let mut q = conn
                .prepare(
                    "SELECT device, rule, state, severity, channel, value, at, message FROM alerts
                     WHERE ?1 IS NULL OR state = ?1 ORDER BY at DESC, id DESC LIMIT ?2",
                )
                .map_err(db)?;
            let rows = q.query_map(params![state.map(state_text), limit], alert_row).map_err(db)?;
            rows.collect::<Result<_, _>>().map_err(db)
        })
        .await
    }

    async fn alarms(&self, filter: AlarmFilter, limit: u32) -> Result<Vec<AlertRow>, StoreError> {
        self.run(move |conn| {
            let (state, active) = filter.params();
            let mut q = conn.prepare(ALARMS).map_err(db)?;
            let rows = q.query_map(params![state, limit, active], alert_row).map_err(db)?;
            rows.collect::<Result<_, _>>().map_err(db)
        })
        .await
    }

    async fn commands(&self, device: DeviceId) -> Result<Vec<CommandRow>, StoreError> {
        self.run(move |conn| {
            let mut q = conn
                .prepare(
                    "SELECT command, ack, sent_at FROM commands WHERE device = ?1
                     ORDER BY issued_at DESC, id DESC",
                )
                .map_err(db)?;
            let rows = q
                .query_map([i(device.0)], |r| {
                    let ack: Option<Vec<u8>> = r.get(1)?;
                    Ok(CommandRow {
                        device,
                        command: unblob(&r.get::<_, Vec<u8>>(0)?)?,
                        sent_at: r.get::<_, Option<i64>>(2)?.map(|t| Timestamp(t as u64)),
                        ack: ack.map(|b| unblob(&b)).transpose()?,
                    })
                })
                .map_err(db)?;
            rows.collect::<Result<_, _>>().map_err(db)
        })
        .await
    }

    async fn last_command_id(&self, device: DeviceId) -> Result<Option<u32>, StoreError> {
        self.run(move |conn| {
            conn.query_row("SELECT MAX(id) FROM commands WHERE device = ?1", [i(device.0)], |r| {
                r.get::<_, Option<u32>>(0)
            })
            .optional()
            .map(Option::flatten)
            .map_err(db)
        })
        .await
    }

    async fn retain(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.run(move |conn| {
            let tx = conn.transaction().map_err(db)?;
            let n = tx.execute("DELETE FROM readings WHERE at < ?1", [i(before.0)]).map_err(db)?;
            tx.execute("DELETE FROM alerts WHERE at < ?1", [i(before.0)]).map_err(db)?;
            tx.execute("DELETE FROM frames WHERE received_at < ?1", [i(before.0)]).map_err(db)?;
            tx.commit().map_err(db)?;
            Ok(n as u64)
        })
        .await
    }
}

#[cfg(test)]
mod tests;

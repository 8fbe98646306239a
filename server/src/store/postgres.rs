//! The PostgreSQL store (tokio-postgres): a writer connection whose batches are one
//! transaction each, written with a few set-based statements (`unnest` of arrays) whatever the
//! batch's size, and a reader connection for queries, so a dashboard never waits behind a
//! write. A connection that dropped is opened again on the next call.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use telemetra_codec::{Frame, Message};
use telemetra_core::{
    Alert, AlertState, ChannelId, Command, CommandId, DeviceId, DeviceStatus, Quality, Reading, Timestamp,
};
use tokio::sync::Mutex;
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

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
    device BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (device, seq)
);
CREATE INDEX frames_by_time ON frames (received_at);
CREATE TABLE devices (
    device BIGINT PRIMARY KEY,
    status TEXT,
    status_at BIGINT,
    last_seen BIGINT,
    info BYTEA
);
CREATE TABLE readings (
    device BIGINT NOT NULL,
    channel INTEGER NOT NULL,
    at BIGINT NOT NULL,
    num DOUBLE PRECISION,
    value BYTEA NOT NULL,
    quality SMALLINT NOT NULL
);
CREATE INDEX readings_by_channel ON readings (device, channel, at);
CREATE INDEX readings_by_time ON readings (at);
CREATE TABLE latest (
    device BIGINT NOT NULL,
    channel INTEGER NOT NULL,
    at BIGINT NOT NULL,
    value BYTEA NOT NULL,
    quality SMALLINT NOT NULL,
    PRIMARY KEY (device, channel)
);
CREATE TABLE alerts (
    id BIGSERIAL PRIMARY KEY,
    device BIGINT NOT NULL,
    rule TEXT NOT NULL,
    state TEXT NOT NULL,
    severity TEXT NOT NULL,
    channel INTEGER,
    value BYTEA,
    at BIGINT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX alerts_by_state ON alerts (state, at);
CREATE TABLE commands (
    device BIGINT NOT NULL,
    id BIGINT NOT NULL,
    issued_at BIGINT NOT NULL,
    command BYTEA NOT NULL,
    ack BYTEA,
    PRIMARY KEY (device, id)
);
",
    "
DELETE FROM alerts a USING alerts b
    WHERE a.device = b.device AND a.rule = b.rule AND a.state = b.state AND a.at = b.at AND a.id > b.id;
CREATE UNIQUE INDEX alerts_once ON alerts (device, rule, state, at);
",
    // A frame is known by its content's digest too (see `key.rs`); the keys stored before
    // get digest 0.
    "
ALTER TABLE frames ADD COLUMN digest BIGINT NOT NULL DEFAULT 0;
ALTER TABLE frames DROP CONSTRAINT frames_pkey;
ALTER TABLE frames ADD PRIMARY KEY (device, seq, digest);
ALTER TABLE frames ALTER COLUMN digest DROP DEFAULT;
",
    // A command is recorded before it is sent (pending until `sent_at`); those recorded
    // before were recorded once sent.
    "
ALTER TABLE commands ADD COLUMN sent_at BIGINT;
ALTER TABLE commands ADD COLUMN expires_at BIGINT;
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

/// The advisory lock under which a database is migrated: many server instances may open one
/// database at the same moment.
const MIGRATION_LOCK: i64 = 0x7465_6c65_6d65_7472;

/// The frames of a batch not stored before (`RETURNING` them tells which are fresh).
const PUT_FRAMES: &str = "INSERT INTO frames (device, seq, digest, received_at)
    SELECT d, s, h, $4 FROM unnest($1::int8[], $2::int8[], $3::int8[]) AS t(d, s, h)
    ON CONFLICT DO NOTHING RETURNING device, seq, digest";
/// The devices heard from; in order of id, so concurrent writers lock rows in one order.
const PUT_SEEN: &str = "INSERT INTO devices (device, last_seen)
    SELECT d, $2 FROM unnest($1::int8[]) AS t(d) ORDER BY d
    ON CONFLICT (device) DO UPDATE
    SET last_seen = GREATEST(COALESCE(devices.last_seen, 0), excluded.last_seen)";
const PUT_READINGS: &str = "INSERT INTO readings (device, channel, at, num, value, quality)
    SELECT * FROM unnest($1::int8[], $2::int4[], $3::int8[], $4::float8[], $5::bytea[], $6::int2[])";
/// Per channel the newest of the batch (the last given of equal times), kept if not older
/// than what is there.
const PUT_LATEST: &str = "INSERT INTO latest (device, channel, at, value, quality)
    SELECT DISTINCT ON (d, c) d, c, a, v, q
    FROM unnest($1::int8[], $2::int4[], $3::int8[], $4::bytea[], $5::int2[]) WITH ORDINALITY AS t(d, c, a, v, q, n)
    ORDER BY d, c, a DESC, n DESC
    ON CONFLICT (device, channel) DO UPDATE
    SET at = excluded.at, value = excluded.value, quality = excluded.quality
    WHERE excluded.at >= latest.at";
const PUT_ALERT: &str = "INSERT INTO alerts (device, rule, state, severity, channel, value, at, message)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING";
const SET_STATUS: &str = "INSERT INTO devices (device, status, status_at) VALUES ($1, $2, $3)
    ON CONFLICT (device) DO UPDATE SET status = excluded.status, status_at = excluded.status_at";

fn db(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(d) => StoreError::Database(d.to_string()),
        None => StoreError::Database(e.to_string()),
    }
}

// PostgreSQL has no unsigned integers: ids and times are stored as the same 64 bits.
fn i(v: u64) -> i64 {
    v as i64
}

fn u(v: i64) -> u64 {
    v as u64
}

fn unblob<T: DeserializeOwned>(b: &[u8]) -> Result<T, StoreError> {
    codes::unblob(b).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn word<T>(what: &str, v: Option<T>) -> Result<T, StoreError> {
    v.ok_or_else(|| StoreError::Corrupt(format!("an unknown {what}")))
}

/// An open connection and the statements the write path uses, prepared once.
struct Connected {
    client: Client,
    put_frames: Statement,
    put_seen: Statement,
    put_readings: Statement,
    put_latest: Statement,
}

/// A connection opened on first use and again after it dropped.
struct Slot(Mutex<Option<Arc<Connected>>>);

impl Slot {
    async fn get(&self, config: &Config) -> Result<Arc<Connected>, StoreError> {
        let mut slot = self.0.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.client.is_closed()) {
            return Ok(c.clone());
        }
        let c = Arc::new(connect(config).await?);
        *slot = Some(c.clone());
        Ok(c)
    }
}

async fn open(config: &Config) -> Result<Client, StoreError> {
    let (client, connection) = config.connect(NoTls).await.map_err(db)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!("the PostgreSQL connection ended: {e}");
        }
    });
    Ok(client)
}

async fn connect(config: &Config) -> Result<Connected, StoreError> {
    let client = open(config).await?;
    Ok(Connected {
        put_frames: client.prepare(PUT_FRAMES).await.map_err(db)?,
        put_seen: client.prepare(PUT_SEEN).await.map_err(db)?,
        put_readings: client.prepare(PUT_READINGS).await.map_err(db)?,
        put_latest: client.prepare(PUT_LATEST).await.map_err(db)?,
        client,
    })
}

/// Runs `work` in a transaction on `client`: committed if it succeeds, rolled back if not.
async fn transaction<T>(
    client: &Client,
    work: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    client.batch_execute("BEGIN").await.map_err(db)?;
    match work.await {
        Ok(v) => {
            client.batch_execute("COMMIT").await.map_err(db)?;
            Ok(v)
        }
        Err(e) => {
            // A failed rollback leaves the connection to be closed by the server.
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// The PostgreSQL store.
pub struct PostgresStore {
    config: Config,
    // Transactions on one connection go one at a time.
    writer: Mutex<()>,
    write: Slot,
    read: Slot,
}

impl core::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("hosts", &self.config.get_hosts())
            .field("ports", &self.config.get_ports())
            .field("dbname", &self.config.get_dbname())
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database `config` names (`host=… port=… user=… dbname=…` or a
    /// `postgresql://user@host:port/dbname` URL) and brings its schema to this build's,
    /// under a lock, so that many instances may start at once. Connections are not encrypted
    /// (a database beside the server, on loopback or a private network).
    pub async fn connect(config: &str) -> Result<PostgresStore, StoreError> {
        let config: Config =
            config.parse().map_err(|e| StoreError::Database(format!("the connection string: {e}")))?;
        let store = PostgresStore {
            config,
            writer: Mutex::new(()),
            write: Slot(Mutex::new(None)),
            read: Slot(Mutex::new(None)),
        };
        migrate(&open(&store.config).await?).await?;
        Ok(store)
    }

    /// The writer connection, for this caller alone until the guard drops.
    async fn writer(&self) -> Result<(tokio::sync::MutexGuard<'_, ()>, Arc<Connected>), StoreError> {
        let one = self.writer.lock().await;
        Ok((one, self.write.get(&self.config).await?))
    }

    async fn reader(&self) -> Result<Arc<Connected>, StoreError> {
        self.read.get(&self.config).await
    }
}

/// Brings the schema to the last version, in one transaction under the migration lock.
/// Fills `devices.model` from the descriptors stored before it existed.
async fn fill_models(client: &Client) -> Result<(), StoreError> {
    let rows =
        client.query("SELECT device, info FROM devices WHERE info IS NOT NULL", &[]).await.map_err(db)?;
    for r in rows {
        let device: i64 = r.try_get(0).map_err(db)?;
        let info: telemetra_core::Device = unblob(r.try_get::<_, &[u8]>(1).map_err(db)?)?;
        client
            .execute("UPDATE devices SET model = $2 WHERE device = $1", &[&device, &info.model.as_str()])
            .await
            .map_err(db)?;
    }
    Ok(())
}

async fn migrate(client: &Client) -> Result<(), StoreError> {
    transaction(client, async {
        client.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(db)?;
        client
            .batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            .await
            .map_err(db)?;
        let version: i64 = client
            .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
            .await
            .map_err(db)?
            .get(0);
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::SchemaTooNew { found: version, known });
        }
        for (n, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            client.batch_execute(sql).await.map_err(db)?;
            if n + 1 == MODEL_MIGRATION {
                fill_models(client).await?;
            }
            client
                .execute("INSERT INTO schema_version (version) VALUES ($1)", &[&(n as i64 + 1)])
                .await
                .map_err(db)?;
        }
        Ok(())
    })
    .await
}

/// A batch's readings as the columns the set-based inserts take.
#[derive(Default)]
struct Columns {
    device: Vec<i64>,
    channel: Vec<i32>,
    at: Vec<i64>,
    num: Vec<Option<f64>>,
    value: Vec<Vec<u8>>,
    quality: Vec<i16>,
}

impl Columns {
    fn push(&mut self, device: DeviceId, r: &Reading) -> Result<(), StoreError> {
        self.device.push(i(device.0));
        self.channel.push(i32::from(r.channel.0));
        self.at.push(i(r.at.0));
        self.num.push(r.value.as_f64());
        self.value.push(blob(&r.value)?);
        self.quality.push(i16::from(r.quality.0));
        Ok(())
    }
}

async fn put_alert(client: &Client, a: &Alert) -> Result<bool, StoreError> {
    let value = a.value.as_ref().map(blob).transpose()?;
    let new = client
        .execute(
            PUT_ALERT,
            &[
                &i(a.device.0),
                &a.rule.as_str(),
                &state_text(a.state),
                &severity_text(a.severity),
                &a.channel.map(|c| i32::from(c.0)),
                &value,
                &i(a.at.0),
                &a.message.as_str(),
            ],
        )
        .await
        .map_err(db)?;
    Ok(new == 1)
}

async fn put_command(client: &Client, device: DeviceId, command: &Command) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO commands (device, id, issued_at, expires_at, command, sent_at, ack)
             VALUES ($1, $2, $3, $4, $5, NULL, NULL)
             ON CONFLICT (device, id) DO UPDATE
             SET issued_at = excluded.issued_at, expires_at = excluded.expires_at,
                 command = excluded.command, sent_at = NULL, ack = NULL",
            &[
                &i(device.0),
                &i64::from(command.id.0),
                &i(command.issued_at.0),
                &command.expires_at.map(|t| i(t.0)),
                &blob(command)?,
            ],
        )
        .await
        .map_err(db)?;
    Ok(())
}

async fn set_status(
    client: &Client,
    device: DeviceId,
    status: DeviceStatus,
    at: Timestamp,
) -> Result<(), StoreError> {
    client.execute(SET_STATUS, &[&i(device.0), &status_text(status), &i(at.0)]).await.map_err(db)?;
    Ok(())
}

/// The body of [`Store::put`], inside its transaction.
async fn put_batch(c: &Connected, frames: &[Frame], received_at: Timestamp) -> Result<Stored, StoreError> {
    let client = &c.client;
    let keys: Vec<Option<(i64, i64, i64)>> =
        frames.iter().map(|f| frame_digest(f).map(|h| (i(f.device.0), i64::from(f.seq), h))).collect();
    let (mut devices, mut seqs, mut digests) = (Vec::new(), Vec::new(), Vec::new());
    for (d, s, h) in keys.iter().flatten() {
        devices.push(*d);
        seqs.push(*s);
        digests.push(*h);
    }
    let mut new: HashSet<(i64, i64, i64)> = client
        .query(&c.put_frames, &[&devices, &seqs, &digests, &i(received_at.0)])
        .await
        .map_err(db)?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let mut stored = Stored::default();
    let mut fresh = Vec::new();
    for (f, key) in frames.iter().zip(&keys) {
        // The first of equal frames in a batch is the fresh one; a status is always fresh.
        let is_new = key.is_none_or(|k| new.remove(&k));
        stored.fresh.push(is_new);
        if is_new {
            stored.frames += 1;
            fresh.push(f);
        } else {
            stored.duplicates += 1;
        }
    }
    if fresh.is_empty() {
        return Ok(stored);
    }
    let mut seen: Vec<i64> = fresh.iter().map(|f| i(f.device.0)).collect();
    seen.sort_unstable();
    seen.dedup();
    client.execute(&c.put_seen, &[&seen, &i(received_at.0)]).await.map_err(db)?;

    let mut rows = Columns::default();
    for f in fresh {
        let device = f.device;
        match &f.message {
            Message::Readings(rs) => {
                for r in rs {
                    rows.push(device, r)?;
                }
            }
            Message::Batch(b) => {
                for r in &b.readings().map_err(|e| StoreError::Corrupt(e.to_string()))? {
                    rows.push(device, r)?;
                }
            }
            Message::Alert(a) => {
                put_alert(client, a).await?;
            }
            Message::Ack(ack) => {
                client
                    .execute(
                        "UPDATE commands SET ack = $3 WHERE device = $1 AND id = $2",
                        &[&i(device.0), &i64::from(ack.command.0), &blob(ack)?],
                    )
                    .await
                    .map_err(db)?;
            }
            Message::DeviceInfo(info) => {
                client
                    .execute(
                        "UPDATE devices SET info = $2, model = $3 WHERE device = $1",
                        &[&i(device.0), &blob(info)?, &info.model.as_str()],
                    )
                    .await
                    .map_err(db)?;
            }
            Message::Status(status) => set_status(client, device, *status, received_at).await?,
            // A heartbeat says the device lives (last_seen, above); commands and rules go the
            // other way and are not stored from frames.
            Message::Heartbeat(_) | Message::Command(_) | Message::Rule(_) => {}
        }
    }
    stored.readings = rows.device.len() as u64;
    if !rows.device.is_empty() {
        let Columns { device, channel, at, num, value, quality } = &rows;
        client.execute(&c.put_readings, &[device, channel, at, num, value, quality]).await.map_err(db)?;
        client.execute(&c.put_latest, &[device, channel, at, value, quality]).await.map_err(db)?;
    }
    Ok(stored)
}

fn device_row(r: &Row) -> Result<DeviceRow, StoreError> {
    let status = match r.try_get::<_, Option<String>>(1).map_err(db)? {
        Some(s) => Some((
            word("status", status_of(&s))?,
            Timestamp(u(r.try_get::<_, Option<i64>>(2).map_err(db)?.unwrap_or(0))),
        )),
        None => None,
    };
    let info: Option<Vec<u8>> = r.try_get(4).map_err(db)?;
    Ok(DeviceRow {
        device: DeviceId(u(r.try_get(0).map_err(db)?)),
        status,
        last_seen: r.try_get::<_, Option<i64>>(3).map_err(db)?.map(|v| Timestamp(u(v))),
        info: info.map(|b| unblob(&b)).transpose()?,
    })
}

fn latest_row(r: &Row) -> Result<Latest, StoreError> {
    Ok(Latest {
        channel: ChannelId(channel(r.try_get(0).map_err(db)?)?),
        at: Timestamp(u(r.try_get(1).map_err(db)?)),
        value: unblob(r.try_get::<_, &[u8]>(2).map_err(db)?)?,
        quality: Quality(
            u8::try_from(r.try_get::<_, i16>(3).map_err(db)?)
                .map_err(|_| StoreError::Corrupt("a quality out of range".into()))?,
        ),
    })
}

fn channel(v: i32) -> Result<u16, StoreError> {
    u16::try_from(v).map_err(|_| StoreError::Corrupt(format!("channel {v} out of range")))
}

fn alert_row(r: &Row) -> Result<AlertRow, StoreError> {
    let value: Option<&[u8]> = r.try_get(5).map_err(db)?;
    Ok(AlertRow {
        device: DeviceId(u(r.try_get(0).map_err(db)?)),
        rule: r.try_get(1).map_err(db)?,
        state: word("alert state", state_of(r.try_get(2).map_err(db)?))?,
        severity: word("severity", severity_of(r.try_get(3).map_err(db)?))?,
        channel: r.try_get::<_, Option<i32>>(4).map_err(db)?.map(channel).transpose()?.map(ChannelId),
        value: value.map(unblob).transpose()?,
        at: Timestamp(u(r.try_get(6).map_err(db)?)),
        message: r.try_get(7).map_err(db)?,
    })
}

impl Store for PostgresStore {
    async fn put(&self, frames: Arc<[Frame]>, received_at: Timestamp) -> Result<Stored, StoreError> {
        let (_one, c) = self.writer().await?;
        transaction(&c.client, put_batch(&c, &frames, received_at)).await
    }

    async fn put_alert(&self, alert: Alert, commands: Vec<Command>) -> Result<bool, StoreError> {
        let (_one, c) = self.writer().await?;
        if commands.is_empty() {
            return put_alert(&c.client, &alert).await;
        }
        transaction(&c.client, async {
            let new = put_alert(&c.client, &alert).await?;
            if new {
                for command in &commands {
                    put_command(&c.client, alert.device, command).await?;
                }
            }
            Ok(new)
        })
        .await
    }

    async fn put_command(&self, device: DeviceId, command: Command) -> Result<(), StoreError> {
        let (_one, c) = self.writer().await?;
        put_command(&c.client, device, &command).await
    }

    async fn command_sent(&self, device: DeviceId, id: CommandId, at: Timestamp) -> Result<(), StoreError> {
        let (_one, c) = self.writer().await?;
        c.client
            .execute(
                "UPDATE commands SET sent_at = $3 WHERE device = $1 AND id = $2",
                &[&i(device.0), &i64::from(id.0), &i(at.0)],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn pending_commands(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<(DeviceId, Command)>, StoreError> {
        let c = self.reader().await?;
        let rows = c
            .client
            .query(
                "SELECT device, command FROM commands
                 WHERE sent_at IS NULL AND (expires_at IS NULL OR expires_at > $1)
                 ORDER BY issued_at, device, id LIMIT $2",
                &[&i(now.0), &i64::from(limit)],
            )
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                let device = DeviceId(u(r.try_get(0).map_err(db)?));
                Ok((device, unblob(r.try_get::<_, &[u8]>(1).map_err(db)?)?))
            })
            .collect()
    }

    async fn set_status(
        &self,
        device: DeviceId,
        status: DeviceStatus,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let (_one, c) = self.writer().await?;
        set_status(&c.client, device, status, at).await
    }

    async fn devices(&self) -> Result<Vec<DeviceRow>, StoreError> {
        let c = self.reader().await?;
        let rows = c
            .client
            .query("SELECT device, status, status_at, last_seen, info FROM devices ORDER BY device", &[])
            .await
            .map_err(db)?;
        rows.iter().map(device_row).collect()
    }

    async fn device_page(
        &self,
        filter: DeviceFilter,
        offset: u64,
        limit: u32,
    ) -> Result<DevicePage, StoreError> {
        let c = self.reader().await?;
        let presence = presence_sql("$1");
        let since = i(filter.heard_since.0);
        let mut counts = [0u64; 3];
        let rows = c
            .client
            .query(&format!("SELECT {presence} AS p, count(*) FROM devices GROUP BY p"), &[&since])
            .await
            .map_err(db)?;
        for r in rows {
            let word: String = r.try_get(0).map_err(db)?;
            if let Some(p) = presence_of(&word) {
                counts[p as usize] += u(r.try_get::<_, i64>(1).map_err(db)?);
            }
        }
        let listed = format!(
            "SELECT device, status, status_at, last_seen, info FROM devices
             WHERE ($2 = '' OR strpos(to_hex(device), $2) > 0 OR strpos(lower(coalesce(model, '')), $2) > 0)
               AND ($3::text IS NULL OR {presence} = $3)"
        );
        let (needle, word) = (filter.needle(), filter.presence_word());
        let matching: i64 = c
            .client
            .query_one(&format!("SELECT count(*) FROM ({listed}) AS listed"), &[&since, &needle, &word])
            .await
            .map_err(db)?
            .try_get(0)
            .map_err(db)?;
        let offset = offset.min(i64::MAX as u64) as i64;
        let rows = c
            .client
            .query(
                &format!("{listed} ORDER BY device LIMIT $4 OFFSET $5"),
                &[&since, &needle, &word, &i64::from(limit), &offset],
            )
            .await
            .map_err(db)?;
        let rows = rows.iter().map(device_row).collect::<Result<_, _>>()?;
        Ok(DevicePage { rows, matching: u(matching), counts })
    }

    async fn device(&self, device: DeviceId) -> Result<Option<DeviceRow>, StoreError> {
        let c = self.reader().await?;
        let row = c
            .client
            .query_opt(
                "SELECT device, status, status_at, last_seen, info FROM devices WHERE device = $1",
                &[&i(device.0)],
            )
            .await
            .map_err(db)?;
        row.as_ref().map(device_row).transpose()
    }

    async fn latest(&self, device: DeviceId) -> Result<Vec<Latest>, StoreError> {
        let c = self.reader().await?;
        let rows = c
            .client
            .query(
                "SELECT channel, at, value, quality FROM latest WHERE device = $1 ORDER BY channel",
                &[&i(device.0)],
            )
            .await
            .map_err(db)?;
        rows.iter().map(latest_row).collect()
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
        let c = self.reader().await?;
        let rows = c
            .client
            .query(
                "SELECT (at - $3) / $5 AS bucket, MIN(at), AVG(num), MIN(num), MAX(num), COUNT(num)
                 FROM readings
                 WHERE device = $1 AND channel = $2 AND at >= $3 AND at < $4 AND num IS NOT NULL
                 GROUP BY bucket ORDER BY bucket",
                &[&i(device.0), &i32::from(channel.0), &i(from.0), &i(to.0), &i(width)],
            )
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(Point {
                    at: Timestamp(u(r.try_get(1).map_err(db)?)),
                    mean: r.try_get(2).map_err(db)?,
                    min: r.try_get(3).map_err(db)?,
                    max: r.try_get(4).map_err(db)?,
                    count: u(r.try_get(5).map_err(db)?),
                })
            })
            .collect()
    }

    async fn readings(
        &self,
        device: DeviceId,
        from: Timestamp,
        to: Timestamp,
        limit: u32,
    ) -> Result<Vec<Reading>, StoreError> {
        let c = self.reader().await?;
        let rows = c
            .client
            .query(
                "SELECT channel, at, value, quality FROM readings
                 WHERE device = $1 AND at >= $2 AND at < $3 ORDER BY at, ctid LIMIT $4",
                &[&i(device.0), &i(from.0), &i(to.0), &i64::from(limit)],
            )
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                let l = latest_row(r)?;
                Ok(Reading { channel: l.channel, at: l.at, value: l.value, quality: l.quality })
            })
            .collect()
    }

    async fn alerts(&self, state: Option<AlertState>, limit: u32) -> Result<Vec<AlertRow>, StoreError> {
        let c = self.reader().await?;
        let rows = c
            .client
            .query(
                "SELECT device, rule, state, severity, channel, value, at, message FROM alerts
                 WHERE $1::text IS NULL OR state = $1 ORDER BY at DESC, id DESC LIMIT $2",
                &[&state.map(state_text), &i64::from(limit)],
            )
            .await
            .map_err(db)?;
        rows.iter().map(alert_row).collect()
    }

    async fn alarms(&self, filter: AlarmFilter, limit: u32) -> Result<Vec<AlertRow>, StoreError> {
        let c = self.reader().await?;
        let (state, active) = filter.params();
        let rows = c
            .client
            .query(
                "SELECT device, rule, state, severity, channel, value, at, message FROM alerts a
                 WHERE ($1::text IS NULL OR state = $1) AND (NOT $3 OR state <> 'cleared') AND NOT EXISTS (
                     SELECT 1 FROM alerts b WHERE b.device = a.device AND b.rule = a.rule
                         AND b.id > a.id)
                 ORDER BY at DESC, id DESC LIMIT $2",
                &[&state, &i64::from(limit), &active],
            )
            .await
            .map_err(db)?;
        rows.iter().map(alert_row).collect()
    }

    async fn commands(&self, device: DeviceId) -> Result<Vec<CommandRow>, StoreError> {
        let c = self.reader().await?;
        let rows = c
            .client
            .query(
                "SELECT command, ack, sent_at FROM commands WHERE device = $1
                 ORDER BY issued_at DESC, id DESC",
                &[&i(device.0)],
            )
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                let ack: Option<&[u8]> = r.try_get(1).map_err(db)?;
                Ok(CommandRow {
                    device,
                    command: unblob(r.try_get::<_, &[u8]>(0).map_err(db)?)?,
                    sent_at: r.try_get::<_, Option<i64>>(2).map_err(db)?.map(|t| Timestamp(u(t))),
                    ack: ack.map(unblob).transpose()?,
                })
            })
            .collect()
    }

    async fn last_command_id(&self, device: DeviceId) -> Result<Option<u32>, StoreError> {
        let c = self.reader().await?;
        let max: Option<i64> = c
            .client
            .query_one("SELECT MAX(id) FROM commands WHERE device = $1", &[&i(device.0)])
            .await
            .map_err(db)?
            .try_get(0)
            .map_err(db)?;
        max.map(|v| u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("command id {v}")))).transpose()
    }

    async fn retain(&self, before: Timestamp) -> Result<u64, StoreError> {
        let (_one, c) = self.writer().await?;
        let client = &c.client;
        let before = i(before.0);
        transaction(client, async {
            let n = client.execute("DELETE FROM readings WHERE at < $1", &[&before]).await.map_err(db)?;
            client.execute("DELETE FROM alerts WHERE at < $1", &[&before]).await.map_err(db)?;
            client.execute("DELETE FROM frames WHERE received_at < $1", &[&before]).await.map_err(db)?;
            Ok(n)
        })
        .await
    }
}

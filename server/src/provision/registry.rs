//! The provisioning registry in SQLite: the fleet CA, claims (their secrets' digests only),
//! issued devices and revoked certificates. Every change that must hold together is one
//! transaction: a claim is spent exactly when its device's certificate is recorded.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use telemetra_core::DeviceId;
use time::OffsetDateTime;

use super::ProvisionError;
use super::ca::Serial;
use super::claim::{Claim, ClaimRecord, unix_seconds};

/// What the registry knows of a provisioned device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// The device.
    pub device: DeviceId,
    /// Its ed25519 public key.
    pub public_key: [u8; 32],
    /// Its certificate's serial number.
    pub serial: Serial,
    /// Its certificate (DER).
    pub certificate: Vec<u8>,
    /// The claim it used.
    pub claim: String,
    /// When it was revoked (seconds since the Unix epoch), if it was.
    pub revoked_at: Option<u64>,
}

/// The registry. Cheap to share behind an `Arc`; calls are serialised on one connection.
pub struct Registry {
    conn: Mutex<Connection>,
}

impl core::fmt::Debug for Registry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ca (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL,
    key_pem TEXT NOT NULL,
    cert_pem TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (
    id TEXT PRIMARY KEY,
    secret_sha256 BLOB NOT NULL,
    expires_at INTEGER NOT NULL,
    devices TEXT NOT NULL,
    used_by INTEGER,
    used_key BLOB,
    used_at INTEGER,
    at_broker INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS devices (
    device INTEGER PRIMARY KEY,
    public_key BLOB NOT NULL,
    serial BLOB NOT NULL,
    certificate BLOB NOT NULL,
    claim TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE TABLE IF NOT EXISTS revoked (
    serial BLOB PRIMARY KEY,
    device INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
";

// SQLite integers are i64: a device id is stored as the same 64 bits.
fn dev_sql(d: DeviceId) -> i64 {
    d.0 as i64
}

fn dev_from(v: i64) -> DeviceId {
    DeviceId(v as u64)
}

fn array<const N: usize>(v: Vec<u8>) -> rusqlite::Result<[u8; N]> {
    let len = v.len();
    v.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(len, rusqlite::types::Type::Blob, "wrong length".into())
    })
}

impl Registry {
    /// Opens (creating if needed) the registry at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Registry, ProvisionError> {
        Self::with(Connection::open(path)?)
    }

    /// A registry in memory (for tests and trials: gone with the process).
    pub fn in_memory() -> Result<Registry, ProvisionError> {
        Self::with(Connection::open_in_memory()?)
    }

    fn with(conn: Connection) -> Result<Registry, ProvisionError> {
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Registry { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stored CA: name, key PEM, certificate PEM.
    pub fn ca(&self) -> Result<Option<(String, zeroize::Zeroizing<String>, String)>, ProvisionError> {
        Ok(self
            .conn()
            .query_row("SELECT name, key_pem, cert_pem FROM ca WHERE id = 1", [], |r| {
                Ok((r.get(0)?, zeroize::Zeroizing::new(r.get(1)?), r.get(2)?))
            })
            .optional()?)
    }

    /// Stores the CA; fails if one is stored already.
    pub fn put_ca(&self, name: &str, key_pem: &str, cert_pem: &str) -> Result<(), ProvisionError> {
        self.conn().execute(
            "INSERT INTO ca (id, name, key_pem, cert_pem) VALUES (1, ?1, ?2, ?3)",
            params![name, key_pem, cert_pem],
        )?;
        Ok(())
    }

    /// Records a new claim (its secret's digest only).
    pub fn add_claim(&self, claim: &Claim) -> Result<(), ProvisionError> {
        let devices: Vec<String> = claim.devices.iter().map(|d| d.to_string()).collect();
        self.conn().execute(
            "INSERT INTO claims (id, secret_sha256, expires_at, devices) VALUES (?1, ?2, ?3, ?4)",
            params![
                claim.id,
                claim.secret.digest().as_slice(),
                unix_seconds(claim.expires_at) as i64,
                devices.join(",")
            ],
        )?;
        Ok(())
    }

    /// A claim's record.
    pub fn claim(&self, id: &str) -> Result<Option<ClaimRecord>, ProvisionError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, secret_sha256, expires_at, devices, used_by, used_key FROM claims WHERE id = ?1",
                [id],
                |r| {
                    let devices: String = r.get(3)?;
                    let used_by: Option<i64> = r.get(4)?;
                    let used_key: Option<Vec<u8>> = r.get(5)?;
                    Ok(ClaimRecord {
                        id: r.get(0)?,
                        secret_sha256: array(r.get(1)?)?,
                        expires_at: r.get::<_, i64>(2)? as u64,
                        devices: devices.split(',').filter_map(|d| d.parse().ok()).collect(),
                        used_by: match (used_by, used_key) {
                            (Some(d), Some(k)) => Some((dev_from(d), array(k)?)),
                            _ => None,
                        },
                    })
                },
            )
            .optional()?)
    }

    /// Spends `claim` on `device` in one transaction: the claim is marked used, the device's
    /// certificate recorded, and a certificate the device held before (a device claimed
    /// again) revoked. Fails, changing nothing, if the claim was spent meanwhile.
    pub fn spend_claim(&self, claim: &str, device: &DeviceRecord, now: u64) -> Result<(), ProvisionError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "UPDATE claims SET used_by = ?2, used_key = ?3, used_at = ?4 WHERE id = ?1 AND used_by IS NULL",
            params![claim, dev_sql(device.device), device.public_key.as_slice(), now as i64],
        )?;
        if n != 1 {
            return Err(ProvisionError::Store(format!("claim {claim} was spent meanwhile")));
        }
        let old: Option<Vec<u8>> = tx
            .query_row("SELECT serial FROM devices WHERE device = ?1", [dev_sql(device.device)], |r| r.get(0))
            .optional()?;
        if let Some(old) = old {
            tx.execute(
                "INSERT OR IGNORE INTO revoked (serial, device, revoked_at) VALUES (?1, ?2, ?3)",
                params![old, dev_sql(device.device), now as i64],
            )?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO devices (device, public_key, serial, certificate, claim, issued_at, revoked_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL)",
            params![
                dev_sql(device.device),
                device.public_key.as_slice(),
                device.serial.as_slice(),
                device.certificate,
                device.claim,
                now as i64
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// A device's record.
    pub fn device(&self, device: DeviceId) -> Result<Option<DeviceRecord>, ProvisionError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT public_key, serial, certificate, claim, revoked_at FROM devices WHERE device = ?1",
                [dev_sql(device)],
                |r| {
                    Ok(DeviceRecord {
                        device,
                        public_key: array(r.get(0)?)?,
                        serial: array(r.get(1)?)?,
                        certificate: r.get(2)?,
                        claim: r.get(3)?,
                        revoked_at: r.get::<_, Option<i64>>(4)?.map(|v| v as u64),
                    })
                },
            )
            .optional()?)
    }

    /// Revokes `device`'s certificate. False if the registry has no such device.
    pub fn revoke(&self, device: DeviceId, now: u64) -> Result<bool, ProvisionError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let serial: Option<Vec<u8>> = tx
            .query_row("SELECT serial FROM devices WHERE device = ?1", [dev_sql(device)], |r| r.get(0))
            .optional()?;
        let Some(serial) = serial else { return Ok(false) };
        tx.execute(
            "UPDATE devices SET revoked_at = ?2 WHERE device = ?1 AND revoked_at IS NULL",
            params![dev_sql(device), now as i64],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO revoked (serial, device, revoked_at) VALUES (?1, ?2, ?3)",
            params![serial, dev_sql(device), now as i64],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// Every revoked serial number with when it was revoked: the revocation list's content.
    pub fn revoked(&self) -> Result<Vec<(Serial, OffsetDateTime)>, ProvisionError> {
        let conn = self.conn();
        let mut q = conn.prepare("SELECT serial, revoked_at FROM revoked ORDER BY revoked_at, serial")?;
        let rows = q.query_map([], |r| {
            let at = OffsetDateTime::from_unix_timestamp(r.get(1)?).unwrap_or(OffsetDateTime::UNIX_EPOCH);
            Ok((array(r.get(0)?)?, at))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The next value of a counter that only grows (the revocation list's number).
    pub fn next_counter(&self, name: &str) -> Result<u64, ProvisionError> {
        let v: i64 = self.conn().query_row(
            "INSERT INTO counters (name, value) VALUES (?1, 1)
             ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
            [name],
            |r| r.get(0),
        )?;
        Ok(v as u64)
    }

    /// Claims still allowed at the broker that no longer need to be: used more than `grace`
    /// seconds ago, or expired.
    pub fn stale_claims(&self, now: u64, grace: u64) -> Result<Vec<String>, ProvisionError> {
        let conn = self.conn();
        let mut q = conn.prepare(
            "SELECT id FROM claims WHERE at_broker = 1 AND (expires_at <= ?1 OR (used_at IS NOT NULL AND used_at + ?2 <= ?1))",
        )?;
        let rows = q.query_map(params![now as i64, grace as i64], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records that the broker no longer knows claim `id`.
    pub fn claim_removed_at_broker(&self, id: &str) -> Result<(), ProvisionError> {
        self.conn().execute("UPDATE claims SET at_broker = 0 WHERE id = ?1", [id])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn device(d: u64, claim: &str) -> DeviceRecord {
        DeviceRecord {
            device: DeviceId(d),
            public_key: [d as u8; 32],
            serial: [d as u8 | 0x40; 16],
            certificate: vec![0x30, d as u8],
            claim: claim.into(),
            revoked_at: None,
        }
    }

    #[test]
    fn a_claim_is_spent_once_and_survives_a_reopen() {
        let dir = std::env::temp_dir().join(format!("telemetra-registry-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("registry.sqlite");
        let claim = Claim::generate(&[DeviceId(u64::MAX), DeviceId(2)], Duration::from_secs(60)).unwrap();
        {
            let r = Registry::open(&path).unwrap();
            r.add_claim(&claim).unwrap();
            r.spend_claim(&claim.id, &device(u64::MAX, &claim.id), 10).unwrap();
            assert!(r.spend_claim(&claim.id, &device(2, &claim.id), 11).is_err(), "spent once");
            assert!(r.device(DeviceId(2)).unwrap().is_none(), "the failed spend changed nothing");
        }
        let r = Registry::open(&path).unwrap();
        let rec = r.claim(&claim.id).unwrap().unwrap();
        assert_eq!(rec.used_by, Some((DeviceId(u64::MAX), [0xff; 32])));
        assert_eq!(rec.devices, vec![DeviceId(u64::MAX), DeviceId(2)]);
        assert_eq!(rec.secret_sha256, claim.secret.digest());
        assert_eq!(r.device(DeviceId(u64::MAX)).unwrap().unwrap(), device(u64::MAX, &claim.id));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn revocation_and_a_second_claim_fill_the_list() {
        let r = Registry::in_memory().unwrap();
        let a = Claim::generate(&[DeviceId(7)], Duration::from_secs(60)).unwrap();
        let b = Claim::generate(&[DeviceId(7)], Duration::from_secs(60)).unwrap();
        r.add_claim(&a).unwrap();
        r.add_claim(&b).unwrap();
        r.spend_claim(&a.id, &device(7, &a.id), 10).unwrap();
        // Claimed again (a factory reset): the old certificate is revoked.
        let mut again = device(7, &b.id);
        again.serial = [0x55; 16];
        r.spend_claim(&b.id, &again, 20).unwrap();
        assert_eq!(r.revoked().unwrap().len(), 1);
        assert_eq!(r.revoked().unwrap()[0].0, device(7, "").serial);
        assert!(r.revoke(DeviceId(7), 30).unwrap());
        assert!(!r.revoke(DeviceId(8), 30).unwrap());
        assert_eq!(r.revoked().unwrap().len(), 2);
        assert_eq!(r.device(DeviceId(7)).unwrap().unwrap().revoked_at, Some(30));
        assert_eq!(r.next_counter("crl").unwrap(), 1);
        assert_eq!(r.next_counter("crl").unwrap(), 2);
    }

    #[test]
    fn stale_claims_are_the_used_and_the_expired() {
        let r = Registry::in_memory().unwrap();
        let used = Claim::generate(&[DeviceId(1)], Duration::from_secs(3600)).unwrap();
        let fresh = Claim::generate(&[DeviceId(1)], Duration::from_secs(3600)).unwrap();
        let mut expired = Claim::generate(&[DeviceId(1)], Duration::from_secs(3600)).unwrap();
        expired.expires_at = std::time::UNIX_EPOCH + Duration::from_secs(100);
        for c in [&used, &fresh, &expired] {
            r.add_claim(c).unwrap();
        }
        let now = unix_seconds(std::time::SystemTime::now());
        r.spend_claim(&used.id, &device(1, &used.id), now).unwrap();
        assert_eq!(r.stale_claims(now, 60).unwrap(), vec![expired.id.clone()]);
        let mut stale = r.stale_claims(now + 60, 60).unwrap();
        stale.sort();
        let mut want = vec![expired.id.clone(), used.id.clone()];
        want.sort();
        assert_eq!(stale, want);
        r.claim_removed_at_broker(&expired.id).unwrap();
        assert_eq!(r.stale_claims(now + 60, 60).unwrap(), vec![used.id.clone()]);
    }
}

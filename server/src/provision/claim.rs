//! Claims: the single-use credentials devices leave the factory with.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::rand::{SecureRandom, SystemRandom};
use telemetra_codec::provision::ClaimRefusal;
use telemetra_core::DeviceId;
use telemetra_core::route::CLAIM_USER_PREFIX;
use zeroize::Zeroizing;

use super::ProvisionError;

/// A claim's secret: 48 hex digits from the system's random source. Zeroed when dropped; its
/// `Debug` shows nothing of it.
#[derive(Clone)]
pub struct ClaimSecret(Zeroizing<String>);

impl ClaimSecret {
    /// Wraps a secret (at most 64 bytes, `telemetra_codec::provision::MAX_SECRET_LEN`).
    pub fn new(secret: impl Into<String>) -> ClaimSecret {
        ClaimSecret(Zeroizing::new(secret.into()))
    }

    /// The secret's text, to write into the device at the factory.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its SHA-256, which is all the registry keeps.
    pub fn digest(&self) -> [u8; 32] {
        let d = ring::digest::digest(&ring::digest::SHA256, self.0.as_bytes());
        d.as_ref().try_into().expect("SHA-256 is 32 bytes")
    }
}

impl core::fmt::Debug for ClaimSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ClaimSecret(<redacted>)")
    }
}

/// Fills `buf` from the system's random source.
pub(crate) fn random(buf: &mut [u8]) -> Result<(), ProvisionError> {
    SystemRandom::new().fill(buf).map_err(|_| ProvisionError::Random)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A claim as created: what the factory writes into the devices it covers.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The claim id (`c-` and 12 hex digits): the MQTT user name `claim:{id}` and the claim
    /// routes' `{claim}`.
    pub id: String,
    /// The secret: the MQTT password and the request's `secret`.
    pub secret: ClaimSecret,
    /// When it stops working.
    pub expires_at: SystemTime,
    /// The device ids it may be used for (its allow-list).
    pub devices: Vec<DeviceId>,
}

impl Claim {
    /// A new claim with a random id and secret, for `devices`, good for `ttl`.
    pub fn generate(devices: &[DeviceId], ttl: Duration) -> Result<Claim, ProvisionError> {
        let mut id = [0u8; 6];
        random(&mut id)?;
        let mut secret = Zeroizing::new([0u8; 24]);
        random(secret.as_mut())?;
        Ok(Claim {
            id: format!("c-{}", hex(&id)),
            secret: ClaimSecret::new(hex(secret.as_ref())),
            expires_at: SystemTime::now() + ttl,
            devices: devices.to_vec(),
        })
    }

    /// The MQTT user name a device presents with this claim.
    pub fn username(&self) -> String {
        claim_username(&self.id)
    }
}

/// The MQTT user name of claim `id`: `claim:{id}`, never a device's (hex digits only).
pub fn claim_username(id: &str) -> String {
    format!("{CLAIM_USER_PREFIX}{id}")
}

/// What the registry knows of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRecord {
    /// The claim id.
    pub id: String,
    /// SHA-256 of the secret.
    pub secret_sha256: [u8; 32],
    /// Seconds since the Unix epoch after which it is refused.
    pub expires_at: u64,
    /// Its allow-list.
    pub devices: Vec<DeviceId>,
    /// The device that used it, with the public key it was used with.
    pub used_by: Option<(DeviceId, [u8; 32])>,
}

/// Seconds since the Unix epoch.
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Compares two digests in time independent of where they differ.
fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The outcome of checking a request against its claim, before the proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A first use: issue a certificate.
    Issue,
    /// The same device with the same key asks again (its response was lost): send the
    /// certificate it was issued again. Nothing new is issued.
    Repeat,
}

/// Checks a request against the registry's record of its claim, in the order that leaks the
/// least: the secret first (an unknown claim and a wrong secret are one answer), then use,
/// expiry and the allow-list. `revoked` says whether the device asked for was revoked.
pub fn judge(
    record: Option<&ClaimRecord>,
    secret: &str,
    device: DeviceId,
    public_key: &[u8; 32],
    revoked: bool,
    now: u64,
) -> Result<Verdict, ClaimRefusal> {
    let record = record.ok_or(ClaimRefusal::UnknownClaim)?;
    if !same_digest(&ClaimSecret::new(secret).digest(), &record.secret_sha256) {
        return Err(ClaimRefusal::UnknownClaim);
    }
    if let Some((used_device, used_key)) = record.used_by {
        return if used_device == device && used_key == *public_key && !revoked {
            Ok(Verdict::Repeat)
        } else {
            Err(ClaimRefusal::AlreadyUsed)
        };
    }
    if now >= record.expires_at {
        return Err(ClaimRefusal::Expired);
    }
    if !record.devices.contains(&device) {
        return Err(ClaimRefusal::DeviceNotAllowed);
    }
    if revoked {
        return Err(ClaimRefusal::Revoked);
    }
    Ok(Verdict::Issue)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ClaimRecord {
        ClaimRecord {
            id: "c-1".into(),
            secret_sha256: ClaimSecret::new("right").digest(),
            expires_at: 1000,
            devices: vec![DeviceId(0x2a), DeviceId(0x2b)],
            used_by: None,
        }
    }

    #[test]
    fn each_refusal_is_named_in_order() {
        let r = record();
        let key = [1; 32];
        assert_eq!(judge(None, "right", DeviceId(0x2a), &key, false, 0), Err(ClaimRefusal::UnknownClaim));
        assert_eq!(judge(Some(&r), "wrong", DeviceId(0x2a), &key, false, 0), Err(ClaimRefusal::UnknownClaim));
        assert_eq!(judge(Some(&r), "right", DeviceId(0x2a), &key, false, 999), Ok(Verdict::Issue));
        assert_eq!(judge(Some(&r), "right", DeviceId(0x2a), &key, false, 1000), Err(ClaimRefusal::Expired));
        assert_eq!(
            judge(Some(&r), "right", DeviceId(0x2c), &key, false, 0),
            Err(ClaimRefusal::DeviceNotAllowed)
        );
        assert_eq!(judge(Some(&r), "right", DeviceId(0x2b), &key, true, 0), Err(ClaimRefusal::Revoked));
        // A wrong secret is refused the same way even when the claim is expired or used.
        assert_eq!(
            judge(Some(&r), "wrong", DeviceId(0x2a), &key, false, 5000),
            Err(ClaimRefusal::UnknownClaim)
        );
    }

    #[test]
    fn a_used_claim_repeats_only_for_its_device_and_key() {
        let r = ClaimRecord { used_by: Some((DeviceId(0x2a), [1; 32])), ..record() };
        assert_eq!(judge(Some(&r), "right", DeviceId(0x2a), &[1; 32], false, 0), Ok(Verdict::Repeat));
        // Even after expiry: the response was lost, the certificate already exists.
        assert_eq!(judge(Some(&r), "right", DeviceId(0x2a), &[1; 32], false, 5000), Ok(Verdict::Repeat));
        assert_eq!(
            judge(Some(&r), "right", DeviceId(0x2a), &[2; 32], false, 0),
            Err(ClaimRefusal::AlreadyUsed)
        );
        assert_eq!(
            judge(Some(&r), "right", DeviceId(0x2b), &[1; 32], false, 0),
            Err(ClaimRefusal::AlreadyUsed)
        );
        assert_eq!(
            judge(Some(&r), "right", DeviceId(0x2a), &[1; 32], true, 0),
            Err(ClaimRefusal::AlreadyUsed)
        );
    }

    #[test]
    fn generated_claims_are_valid_and_distinct() {
        let a = Claim::generate(&[DeviceId(1)], Duration::from_secs(60)).unwrap();
        let b = Claim::generate(&[DeviceId(1)], Duration::from_secs(60)).unwrap();
        assert!(telemetra_core::route::is_claim_id(&a.id), "{}", a.id);
        assert_ne!(a.id, b.id);
        assert_ne!(a.secret.expose(), b.secret.expose());
        assert_eq!(a.secret.expose().len(), 48);
        assert!(!format!("{a:?}").contains(a.secret.expose()));
    }
}

//! Device provisioning: single-use claims traded for per-device certificates, broker ACLs
//! that confine each device to its own routes, and revocation.
//!
//! The flow (what AWS IoT calls fleet provisioning by claim):
//!
//! 1. The operator creates a [`Claim`] for a batch of device ids ([`Provisioner::create_claim`]):
//!    an id and a secret the factory writes into those devices, good once and until it expires.
//!    The broker lets the claim log in (user `claim:{id}`, the secret as password) and reach
//!    only its two claim routes.
//! 2. A device generates an ed25519 key pair (the private key never leaves it), connects with
//!    the claim, and sends a `ClaimRequest` with its public key and a proof that it holds the
//!    private key (`telemetra_transports::provision::claim` does all of it over MQTT,
//!    `claim_over_coap` over CoAP over TLS to [`Provisioner::serve_coap`]).
//! 3. The provisioning service checks the claim (secret, single use, expiry, allow-list, not
//!    revoked) and the proof, issues a certificate from the [`FleetCa`] with the device id as
//!    its common name, gives the device a broker role confined to `tm/v1/{device}/...`, records
//!    it all in one transaction, and answers with the certificate.
//! 4. The device reconnects with mutual TLS as itself; the broker (`use_identity_as_username`)
//!    knows it by its certificate, its role confines it.
//! 5. [`Provisioner::revoke`] adds the certificate to the revocation list the broker checks
//!    (`crlfile`), has the broker reload it, and removes the device's role, which disconnects
//!    it: it can neither reconnect nor publish.
//!
//! A lost answer is not a lost device: the same device asking again with the same key and claim
//! gets the same certificate again. Nothing secret is logged: claims by id, devices by id.

mod broker;
mod ca;
mod claim;
mod coap;
mod error;
mod registry;
mod serve;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

pub use broker::BrokerAdmin;
pub use ca::{FleetCa, Serial};
pub use claim::{Claim, ClaimRecord, ClaimSecret, Verdict, claim_username, judge};
pub use error::ProvisionError;
pub use registry::{DeviceRecord, Registry};
use telemetra_codec::provision::{ClaimRefusal, ClaimRequest, PROOF_MESSAGE_LEN, proof_message};
use telemetra_core::DeviceId;

use self::claim::unix_seconds;

/// How the provisioning service runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProvisionConfig {
    /// The fleet CA's common name (used when the registry has no CA yet).
    pub ca_name: String,
    /// How long device certificates are valid.
    pub certificate_validity: Duration,
    /// Where the revocation list goes: the broker's `crlfile`.
    pub crl_path: PathBuf,
    /// How long each revocation list is valid; a new one is issued at half that age.
    pub crl_validity: Duration,
    /// How long a used claim stays at the broker so that its answer can reach the device.
    pub claim_grace: Duration,
    /// How often [`Provisioner::serve`] sweeps (stale claims, the revocation list's age).
    pub sweep_every: Duration,
    /// The MQTT user name the service runs as (given the right to answer claims).
    pub service_username: String,
}

impl ProvisionConfig {
    /// Defaults: certificates for 10 years, revocation lists for 7 days, a used claim kept
    /// 60 s, a sweep every 30 s.
    pub fn new(crl_path: impl Into<PathBuf>, service_username: impl Into<String>) -> ProvisionConfig {
        ProvisionConfig {
            ca_name: "telemetra fleet CA".into(),
            certificate_validity: Duration::from_secs(10 * 365 * 86_400),
            crl_path: crl_path.into(),
            crl_validity: Duration::from_secs(7 * 86_400),
            claim_grace: Duration::from_secs(60),
            sweep_every: Duration::from_secs(30),
            service_username: service_username.into(),
        }
    }
}

/// Called after a new revocation list is written: make the broker read it (mosquitto reads its
/// `crlfile` again on SIGHUP).
pub type Reload = Box<dyn Fn() -> std::io::Result<()> + Send + Sync>;

/// What the service has done since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProvisionStats {
    /// Requests that decoded.
    pub requests: u64,
    /// Certificates issued.
    pub issued: u64,
    /// Certificates sent again to a device whose answer was lost.
    pub repeated: u64,
    /// Requests refused.
    pub refused: u64,
    /// Messages dropped: undecodable, or naming another claim than their route.
    pub malformed: u64,
    /// Devices revoked.
    pub revoked: u64,
}

/// The provisioning service: the registry, the fleet CA and the broker's ACLs, kept in step.
pub struct Provisioner {
    registry: Registry,
    ca: FleetCa,
    broker: BrokerAdmin,
    config: ProvisionConfig,
    reload: Reload,
    stats: Mutex<ProvisionStats>,
    crl_issued: Mutex<Option<Instant>>,
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl core::fmt::Debug for Provisioner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Provisioner").field("config", &self.config).finish_non_exhaustive()
    }
}

/// The registry's fleet CA, created (and stored) on first use. Write its certificate where the
/// broker's device listener reads its `cafile` before the broker starts.
pub fn fleet_ca(registry: &Registry, name: &str) -> Result<FleetCa, ProvisionError> {
    if let Some((name, key, cert)) = registry.ca()? {
        return FleetCa::from_pem(&name, &key, &cert);
    }
    let ca = FleetCa::generate(name)?;
    registry.put_ca(name, &ca.key_pem(), ca.certificate_pem())?;
    Ok(ca)
}

impl Provisioner {
    /// Starts the service: the registry's CA (created on first use), the broker's default
    /// denial and the service's own grant, and a fresh revocation list (written and reloaded).
    pub async fn start(
        registry: Registry,
        broker: BrokerAdmin,
        config: ProvisionConfig,
        reload: Reload,
    ) -> Result<Provisioner, ProvisionError> {
        let ca = fleet_ca(&registry, &config.ca_name)?;
        broker.prepare(&config.service_username).await?;
        let p = Provisioner {
            registry,
            ca,
            broker,
            config,
            reload,
            stats: Mutex::default(),
            crl_issued: Mutex::new(None),
            one_at_a_time: tokio::sync::Mutex::new(()),
        };
        p.publish_crl()?;
        Ok(p)
    }

    /// The fleet CA.
    pub fn ca(&self) -> &FleetCa {
        &self.ca
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// What the service has done.
    pub fn stats(&self) -> ProvisionStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count(&self, f: impl FnOnce(&mut ProvisionStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// A new claim for `devices`, good for `ttl`: recorded, and allowed at the broker.
    pub async fn create_claim(&self, devices: &[DeviceId], ttl: Duration) -> Result<Claim, ProvisionError> {
        let claim = Claim::generate(devices, ttl)?;
        self.registry.add_claim(&claim)?;
        self.broker.allow_claim(&claim.id, &claim.secret).await?;
        tracing::info!(claim = %claim.id, devices = devices.len(), "claim created");
        Ok(claim)
    }

    /// Answers a request: the device's certificate (DER), or why not.
    pub async fn answer(&self, req: &ClaimRequest<'_>) -> Result<Vec<u8>, ClaimRefusal> {
        let _one = self.one_at_a_time.lock().await;
        let r = self.decide(req).await;
        match &r {
            Ok(_) => {}
            Err(why) => {
                self.count(|s| s.refused += 1);
                tracing::info!(claim = %req.claim, device = %req.device, "claim refused: {why}");
            }
        }
        r
    }

    async fn decide(&self, req: &ClaimRequest<'_>) -> Result<Vec<u8>, ClaimRefusal> {
        let unavailable = |e: ProvisionError| {
            tracing::warn!(claim = %req.claim, "provisioning failed: {e}");
            ClaimRefusal::Unavailable
        };
        let now = unix_seconds(SystemTime::now());
        let record = self.registry.claim(req.claim).map_err(unavailable)?;
        let existing = self.registry.device(req.device).map_err(unavailable)?;
        let revoked = existing.as_ref().is_some_and(|d| d.revoked_at.is_some());
        let verdict = judge(record.as_ref(), req.secret, req.device, &req.public_key, revoked, now)?;
        let mut buf = [0u8; PROOF_MESSAGE_LEN];
        let message =
            proof_message(req.claim, req.device, &req.public_key, &mut buf).ok_or(ClaimRefusal::BadProof)?;
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &req.public_key)
            .verify(message, &req.proof)
            .map_err(|_| ClaimRefusal::BadProof)?;
        if verdict == Verdict::Repeat {
            let device =
                existing.filter(|d| d.public_key == req.public_key).ok_or(ClaimRefusal::AlreadyUsed)?;
            self.count(|s| s.repeated += 1);
            tracing::info!(claim = %req.claim, device = %req.device, "certificate sent again");
            return Ok(device.certificate);
        }
        let serial = ca::new_serial().map_err(unavailable)?;
        let certificate = self
            .ca
            .issue(req.device, &req.public_key, &serial, self.config.certificate_validity)
            .map_err(unavailable)?;
        self.broker.allow_device(req.device).await.map_err(unavailable)?;
        let record = DeviceRecord {
            device: req.device,
            public_key: req.public_key,
            serial,
            certificate: certificate.clone(),
            claim: req.claim.to_owned(),
            revoked_at: None,
        };
        self.registry.spend_claim(req.claim, &record, now).map_err(unavailable)?;
        if existing.is_some() {
            // Claimed again: the certificate it held before is on the list now.
            self.publish_crl().map_err(unavailable)?;
        }
        self.count(|s| s.issued += 1);
        tracing::info!(claim = %req.claim, device = %req.device, "certificate issued");
        Ok(certificate)
    }

    /// Revokes `device`: its certificate goes on the revocation list (written and reloaded by
    /// the broker), then its broker role goes, which disconnects it. False if the registry has
    /// no such device.
    pub async fn revoke(&self, device: DeviceId) -> Result<bool, ProvisionError> {
        let _one = self.one_at_a_time.lock().await;
        if !self.registry.revoke(device, unix_seconds(SystemTime::now()))? {
            return Ok(false);
        }
        self.publish_crl()?;
        self.broker.remove_device(device).await?;
        self.count(|s| s.revoked += 1);
        tracing::info!(device = %device, "device revoked");
        Ok(true)
    }

    /// Writes a new revocation list to the configured path (atomically) and has the broker
    /// read it.
    pub fn publish_crl(&self) -> Result<(), ProvisionError> {
        let number = self.registry.next_counter("crl")?;
        let pem = self.ca.crl_pem(&self.registry.revoked()?, number, self.config.crl_validity)?;
        let path = &self.config.crl_path;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, pem)?;
        std::fs::rename(&tmp, path)?;
        (self.reload)()?;
        *self.crl_issued.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        Ok(())
    }

    /// Removes from the broker the claims that no longer need to log in (used more than the
    /// grace period ago, or expired), and issues the revocation list again at half its age.
    pub async fn sweep(&self) -> Result<(), ProvisionError> {
        let _one = self.one_at_a_time.lock().await;
        let now = unix_seconds(SystemTime::now());
        for id in self.registry.stale_claims(now, self.config.claim_grace.as_secs())? {
            self.broker.remove_claim(&id).await?;
            self.registry.claim_removed_at_broker(&id)?;
            tracing::info!(claim = %id, "claim removed from the broker");
        }
        let issued = *self.crl_issued.lock().unwrap_or_else(|e| e.into_inner());
        if issued.is_none_or(|t| t.elapsed() >= self.config.crl_validity / 2) {
            self.publish_crl()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

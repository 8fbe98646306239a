//! The fleet CA: the authority whose certificates the broker trusts as device identities, and
//! whose revocation list it checks.

use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType, ExtendedKeyUsagePurpose,
    IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_ED25519, PublicKeyData,
    RevocationReason, RevokedCertParams, SerialNumber, SignatureAlgorithm,
};
use telemetra_core::DeviceId;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::ProvisionError;

/// A device certificate's serial number (16 random bytes, the top bit clear so that it stays a
/// positive DER integer).
pub type Serial = [u8; 16];

/// The fleet's certificate authority: an ECDSA P-256 key and a self-signed certificate.
///
/// It issues each device a certificate for the device's own ed25519 key, with the device id
/// (lowercase hex, as in the routes) as its common name: with mosquitto's
/// `use_identity_as_username`, that is the user name the broker's ACLs know the device by.
pub struct FleetCa {
    key: KeyPair,
    params: CertificateParams,
    cert_pem: String,
}

impl core::fmt::Debug for FleetCa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FleetCa").field("key", &"<redacted>").finish_non_exhaustive()
    }
}

fn ca_params(name: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    p.key_identifier_method = KeyIdMethod::Sha256;
    p
}

fn ca_err(what: &'static str) -> impl FnOnce(rcgen::Error) -> ProvisionError {
    move |e| ProvisionError::Ca { what, reason: e.to_string() }
}

impl FleetCa {
    /// A new CA named `name`, valid for 20 years from now.
    pub fn generate(name: &str) -> Result<FleetCa, ProvisionError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(ca_err("CA key"))?;
        let mut params = ca_params(name);
        let now = OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::days(20 * 365);
        let cert_pem = params.self_signed(&key).map_err(ca_err("CA certificate"))?.pem();
        Ok(FleetCa { key, params: ca_params(name), cert_pem })
    }

    /// The CA kept by [`FleetCa::key_pem`] and [`FleetCa::certificate_pem`], under the same name.
    pub fn from_pem(name: &str, key_pem: &str, cert_pem: &str) -> Result<FleetCa, ProvisionError> {
        let key = KeyPair::from_pem(key_pem).map_err(ca_err("CA key"))?;
        Ok(FleetCa { key, params: ca_params(name), cert_pem: cert_pem.to_owned() })
    }

    /// The CA certificate (PEM): the broker's `cafile` for the device listener.
    pub fn certificate_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key (PKCS#8 PEM), zeroed when dropped. Keep it where only the
    /// provisioning service reads it.
    pub fn key_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(self.key.serialize_pem())
    }

    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    /// Issues a client certificate for `device`'s ed25519 `public_key`, valid for `validity`
    /// from an hour ago (clock skew), with the given serial number. Returns it as DER.
    pub fn issue(
        &self,
        device: DeviceId,
        public_key: &[u8; 32],
        serial: &Serial,
        validity: Duration,
    ) -> Result<Vec<u8>, ProvisionError> {
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, device.to_string());
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.serial_number = Some(SerialNumber::from_slice(serial));
        p.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        p.not_before = now - time::Duration::hours(1);
        p.not_after = now
            + time::Duration::try_from(validity).map_err(|_| ProvisionError::Ca {
                what: "device certificate",
                reason: "validity out of range".into(),
            })?;
        let cert =
            p.signed_by(&Ed25519Key(*public_key), &self.issuer()).map_err(ca_err("device certificate"))?;
        Ok(cert.der().to_vec())
    }

    /// The certificate revocation list (PEM) naming `revoked` serial numbers, numbered `number`
    /// (which must grow with each list) and valid for `validity`: the broker's `crlfile`.
    /// OpenSSL refuses every client once the list's next update has passed, so it must be
    /// issued again before then.
    pub fn crl_pem(
        &self,
        revoked: &[(Serial, OffsetDateTime)],
        number: u64,
        validity: Duration,
    ) -> Result<String, ProvisionError> {
        let now = OffsetDateTime::now_utc();
        let params = CertificateRevocationListParams {
            this_update: now - time::Duration::minutes(5),
            next_update: now + time::Duration::try_from(validity).unwrap_or(time::Duration::days(7)),
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|(serial, at)| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(serial),
                    revocation_time: *at,
                    reason_code: Some(RevocationReason::CessationOfOperation),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params.signed_by(&self.issuer()).and_then(|crl| crl.pem()).map_err(ca_err("revocation list"))
    }
}

/// A device's ed25519 public key, as rcgen needs it to certify a key it does not hold.
struct Ed25519Key([u8; 32]);

impl PublicKeyData for Ed25519Key {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &PKCS_ED25519
    }
}

/// A fresh serial number.
pub fn new_serial() -> Result<Serial, ProvisionError> {
    let mut s = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut s)
        .map_err(|_| ProvisionError::Ca { what: "serial number", reason: "no randomness".into() })?;
    s[0] &= 0x7f;
    s[0] |= 0x01 << 6; // never a leading zero byte: DER keeps all 16 bytes
    Ok(s)
}

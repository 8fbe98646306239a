//! The device's side of provisioning: a key pair made on the device, a single-use claim traded
//! for a certificate of its own, and the mutual-TLS identity that results.
//!
//! Over MQTT ([`claim`]: the claim logs in to the broker's claim listener and asks on its claim
//! routes) or, with the `coap` feature, over CoAP over TLS ([`claim_over_coap`]: a POST to the
//! claim's request path on the provisioning service's `coaps+tcp://` endpoint). The secret
//! travels only inside TLS either way.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use telemetra_core::DeviceId;
//! use telemetra_transports::mqtt::Options;
//! use telemetra_transports::mqtt::driver::{Config, MqttClient};
//! use telemetra_transports::mqtt::driver::tls::Roots;
//! use telemetra_transports::provision::{ClaimCredential, DeviceKey, claim};
//!
//! let ca = std::fs::read("broker-ca.pem")?;
//! let mut config = Config::new("mqtts://provision.example.com:8884", Options::new(""))?;
//! config.tls.roots = Roots::Pem(ca.clone());
//! // Written into the device at the factory.
//! let credential = ClaimCredential::new("c-0a1b2c3d4e5f", "the claim's secret");
//! // Made on the device; its private key never leaves it.
//! let key = DeviceKey::generate()?;
//! let identity = claim(config, &credential, DeviceId(0x2a), key, Duration::from_secs(30)).await?;
//! // Keep `identity.key().pkcs8_der()` and `identity.certificate_der()` in the device's
//! // protected storage, then connect as the device itself.
//! let mut config = Config::new("mqtts://mqtt.example.com", Options::new("2a"))?;
//! config.tls.roots = Roots::Pem(ca);
//! config.tls.identity = Some(identity.tls_identity());
//! let client = MqttClient::start(config)?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use telemetra_codec::DecodeError;
use telemetra_codec::provision::{
    ClaimRefusal, ClaimRequest, ClaimResponse, MAX_REQUEST_LEN, PROOF_MESSAGE_LEN, proof_message,
};
use telemetra_core::DeviceId;
use telemetra_core::route::{CLAIM_USER_PREFIX, ClaimRoute, claim_topic};
use zeroize::Zeroizing;

use crate::mqtt::client::{Message, Outcome, Password};
use crate::mqtt::driver::tls::Identity;
use crate::mqtt::driver::{Config, ConnectError, MqttClient};
use crate::mqtt::packet::publish::QoS;

/// The device's ed25519 key pair, made on the device. The private key (PKCS#8) is zeroed when
/// dropped and never printed.
pub struct DeviceKey {
    pkcs8: Zeroizing<Vec<u8>>,
    pair: Ed25519KeyPair,
}

impl core::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeviceKey").field("public_key", &self.public_key()).finish_non_exhaustive()
    }
}

impl DeviceKey {
    /// A new key pair from the system's random source.
    pub fn generate() -> Result<DeviceKey, ClaimError> {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| ClaimError::Key)?;
        Self::from_pkcs8(doc.as_ref())
    }

    /// The key pair kept by [`DeviceKey::pkcs8_der`].
    pub fn from_pkcs8(der: &[u8]) -> Result<DeviceKey, ClaimError> {
        let pair = Ed25519KeyPair::from_pkcs8(der).map_err(|_| ClaimError::Key)?;
        Ok(DeviceKey { pkcs8: Zeroizing::new(der.to_vec()), pair })
    }

    /// The private key (PKCS#8 DER), to keep in the device's protected storage.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.pair.public_key().as_ref().try_into().expect("an ed25519 public key is 32 bytes")
    }

    /// The request for `claim` (its id and secret) to become `device`, signed by this key.
    /// `None` if the claim id is not valid.
    pub fn request<'a>(&self, claim: &'a str, secret: &'a str, device: DeviceId) -> Option<ClaimRequest<'a>> {
        let public_key = self.public_key();
        let mut buf = [0u8; PROOF_MESSAGE_LEN];
        let message = proof_message(claim, device, &public_key, &mut buf)?;
        let proof = self.pair.sign(message).as_ref().try_into().expect("an ed25519 signature is 64 bytes");
        Some(ClaimRequest { claim, secret, device, public_key, proof })
    }
}

/// A claim as the factory wrote it into the device: its id and secret (zeroed when dropped,
/// never printed).
#[derive(Debug, Clone)]
pub struct ClaimCredential {
    /// The claim id.
    pub id: String,
    /// The claim's secret.
    pub secret: Password,
}

impl ClaimCredential {
    /// A claim credential.
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> ClaimCredential {
        ClaimCredential { id: id.into(), secret: Password::new(secret.into()) }
    }
}

/// The device's own identity: its certificate from the fleet CA and its key.
#[derive(Debug)]
pub struct DeviceIdentity {
    device: DeviceId,
    certificate: Vec<u8>,
    key: DeviceKey,
}

impl DeviceIdentity {
    /// An identity kept from an earlier claim.
    pub fn new(device: DeviceId, certificate_der: Vec<u8>, key: DeviceKey) -> DeviceIdentity {
        DeviceIdentity { device, certificate: certificate_der, key }
    }

    /// The device id the certificate names.
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// The certificate (DER).
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate
    }

    /// The key.
    pub fn key(&self) -> &DeviceKey {
        &self.key
    }

    /// The certificate and key for mutual TLS ([`TlsOptions::identity`]).
    ///
    /// [`TlsOptions::identity`]: crate::mqtt::driver::tls::TlsOptions::identity
    pub fn tls_identity(&self) -> Identity {
        let pem = |tag: &str, der: &[u8]| pem::encode(&pem::Pem::new(tag, der)).into_bytes();
        Identity {
            cert_chain_pem: pem("CERTIFICATE", &self.certificate),
            key_pem: pem("PRIVATE KEY", &self.key.pkcs8),
        }
    }
}

/// Why a claim did not give the device its identity.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimError {
    /// The provisioning service refused the claim.
    #[error("claim refused: {0}")]
    Refused(ClaimRefusal),
    /// The broker refused the claim's login (a used or expired claim is removed from the
    /// broker), or could not be reached.
    #[error("cannot connect with the claim: {0}")]
    Connect(ConnectError),
    /// The broker refused the request (the claim may not publish there).
    #[error("the broker refused the claim request")]
    NotAuthorized,
    /// No answer within the time given.
    #[error("no answer from the provisioning service within {0:?}")]
    Timeout(Duration),
    /// The answer did not decode, or was for another device.
    #[error("bad answer from the provisioning service: {0}")]
    BadAnswer(DecodeError),
    /// The claim id is not valid (see `telemetra_core::route::is_claim_id`), or the MQTT
    /// configuration cannot work.
    #[error("invalid claim: {0}")]
    Invalid(String),
    /// The key could not be made or read.
    #[error("the device key could not be made or read")]
    Key,
    /// The CoAP exchange failed (no connection, TLS refused, no answer), or the service
    /// answered with an error code.
    #[cfg(feature = "coap")]
    #[error("CoAP: {0}")]
    Coap(String),
}

/// Encodes `credential`'s request to become `device`, signed by `key` (zeroed when dropped).
fn encoded_request(
    credential: &ClaimCredential,
    device: DeviceId,
    key: &DeviceKey,
) -> Result<Zeroizing<Vec<u8>>, ClaimError> {
    let id = credential.id.as_str();
    let secret = core::str::from_utf8(credential.secret.expose())
        .map_err(|_| ClaimError::Invalid("the secret is not UTF-8".into()))?;
    let request = key.request(id, secret, device).ok_or_else(|| ClaimError::Invalid(id.into()))?;
    let mut buf = Zeroizing::new([0u8; MAX_REQUEST_LEN]);
    let payload = request.encode(buf.as_mut()).map_err(|e| ClaimError::Invalid(e.to_string()))?.to_vec();
    Ok(Zeroizing::new(payload))
}

/// The certificate in the service's answer, if it is for `device`.
fn certificate_of(answer: &[u8], device: DeviceId) -> Result<Vec<u8>, ClaimError> {
    match ClaimResponse::decode(answer).map_err(ClaimError::BadAnswer)? {
        ClaimResponse::Issued { device: d, certificate } if d == device => Ok(certificate.to_vec()),
        ClaimResponse::Issued { .. } => Err(ClaimError::BadAnswer(DecodeError::InvalidField)),
        ClaimResponse::Refused(why) => Err(ClaimError::Refused(why)),
    }
}

/// Trades `credential` for `device`'s own identity over CoAP over TLS: POSTs the request signed
/// by `key` to the claim's request path (`/tm/v1/claims/{claim}/request`) at `url`
/// (`coaps+tcp://host:port`, with `config`'s TLS settings), and waits up to `timeout` for the
/// answer. Safe to repeat, as [`claim`] is.
#[cfg(feature = "coap")]
pub async fn claim_over_coap(
    url: &str,
    config: crate::coap::driver::ClientConfig,
    credential: &ClaimCredential,
    device: DeviceId,
    key: DeviceKey,
    timeout: Duration,
) -> Result<DeviceIdentity, ClaimError> {
    use crate::coap::driver::{CoapClient, Request};
    let payload = encoded_request(credential, device, &key)?;
    let path = claim_topic(&credential.id, ClaimRoute::Request)
        .ok_or_else(|| ClaimError::Invalid(credential.id.clone()))?;
    let exchange = async {
        let client = CoapClient::connect(url, config).await.map_err(|e| ClaimError::Coap(e.to_string()))?;
        let response = client
            .request(Request::post(&path, payload.to_vec()))
            .await
            .map_err(|e| ClaimError::Coap(e.to_string()))?;
        if response.code != crate::coap::Code::CHANGED {
            return Err(ClaimError::Coap(format!("the service answered {}", response.code)));
        }
        certificate_of(&response.payload, device)
    };
    let certificate =
        tokio::time::timeout(timeout, exchange).await.unwrap_or(Err(ClaimError::Timeout(timeout)))?;
    Ok(DeviceIdentity { device, certificate, key })
}

/// Trades `credential` for `device`'s own identity: connects with the claim (user name
/// `claim:{id}`, the secret as password) using `config`'s broker and TLS settings, sends the
/// request signed by `key`, waits up to `timeout` for the answer, and disconnects.
///
/// Sending the same request again (after a lost answer) is safe: the service sends the same
/// certificate again.
pub async fn claim(
    mut config: Config,
    credential: &ClaimCredential,
    device: DeviceId,
    key: DeviceKey,
    timeout: Duration,
) -> Result<DeviceIdentity, ClaimError> {
    let id = credential.id.as_str();
    let payload = encoded_request(credential, device, &key)?;
    let response_topic =
        claim_topic(id, ClaimRoute::Response).ok_or_else(|| ClaimError::Invalid(id.into()))?;
    let request_topic = claim_topic(id, ClaimRoute::Request).ok_or_else(|| ClaimError::Invalid(id.into()))?;

    config.options.client_id = format!("claim-{id}");
    config.options.username = Some(format!("{CLAIM_USER_PREFIX}{id}"));
    config.options.password = Some(credential.secret.clone());
    config.options.clean_start = true;
    config.options.session_expiry = 0;
    let client = MqttClient::start(config).map_err(|e| ClaimError::Invalid(e.to_string()))?;
    let result = tokio::time::timeout(timeout, async {
        client.connected().await.map_err(ClaimError::Connect)?;
        client.subscribe(&response_topic, QoS::AtLeastOnce).await.map_err(|_| ClaimError::NotAuthorized)?;
        let sent = client
            .publish_acked(Message::new(request_topic.as_str(), payload.to_vec()).with_qos(QoS::AtLeastOnce))
            .await
            .map_err(|r| ClaimError::Invalid(r.reason.to_string()))?;
        if !matches!(sent, Some(Outcome::Delivered)) {
            return Err(ClaimError::NotAuthorized);
        }
        loop {
            let Some(m) = client.recv().await else {
                return Err(ClaimError::Connect(ConnectError::Closed));
            };
            if m.topic != response_topic.as_str() {
                continue;
            }
            return certificate_of(&m.payload, device);
        }
    })
    .await
    .unwrap_or(Err(ClaimError::Timeout(timeout)));
    match &result {
        Ok(_) => {
            client.disconnect().await;
        }
        Err(_) => client.abort().await,
    }
    Ok(DeviceIdentity { device, certificate: result?, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_signs_a_request_the_service_can_check() {
        let key = DeviceKey::generate().unwrap();
        let req = key.request("c-1", "secret", DeviceId(0x2a)).unwrap();
        assert_eq!(req.public_key, key.public_key());
        let mut buf = [0u8; PROOF_MESSAGE_LEN];
        let message = proof_message("c-1", DeviceId(0x2a), &req.public_key, &mut buf).unwrap();
        let public = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, req.public_key);
        assert!(public.verify(message, &req.proof).is_ok());
        // Bound to the device id: the same proof does not pass for another.
        let message = proof_message("c-1", DeviceId(0x2b), &req.public_key, &mut buf).unwrap();
        assert!(public.verify(message, &req.proof).is_err());
        assert!(key.request("Bad/Id", "secret", DeviceId(1)).is_none());
    }

    #[test]
    fn a_kept_key_is_the_same_key_and_never_prints() {
        let key = DeviceKey::generate().unwrap();
        let again = DeviceKey::from_pkcs8(key.pkcs8_der()).unwrap();
        assert_eq!(key.public_key(), again.public_key());
        assert!(DeviceKey::from_pkcs8(&[1, 2, 3]).is_err());
        let shown = format!("{key:?}");
        let hex: String = key.pkcs8_der()[16..48].iter().map(|b| format!("{b:02x}")).collect();
        assert!(!shown.contains(&hex));
        let id = DeviceIdentity::new(DeviceId(1), vec![0x30, 0], key);
        assert!(!format!("{id:?}").contains("PRIVATE"));
        assert!(
            String::from_utf8(id.tls_identity().key_pem.clone())
                .unwrap()
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
    }
}

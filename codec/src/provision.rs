//! Provisioning messages: how a device trades a single-use claim for its own identity.
//!
//! A device leaves the factory with a *claim* (an id and a secret, shared with the provisioning
//! service, good once and until it expires) and no identity of its own. It generates an ed25519
//! key pair, keeps the private key, and sends a [`ClaimRequest`] on its claim's request route
//! (`telemetra_core::route::claim_topic`): the claim, the device id it asks for, its public key
//! and a *proof*, a signature by the new key over [`proof_message`], which shows the service
//! that the requester holds the private key (what a PKCS#10 request's self-signature does). The
//! service answers with a [`ClaimResponse`]: the device's certificate from the fleet CA, or the
//! reason it refused.
//!
//! Both messages are one format byte ([`PROVISION_FORMAT`]) and the postcard encoding of the
//! message. Decoding never panics, never allocates, and checks every length.
//!
//! ```
//! use telemetra_codec::provision::{ClaimRequest, ClaimResponse, ClaimRefusal};
//! use telemetra_core::DeviceId;
//!
//! let req = ClaimRequest {
//!     claim: "c-7f3a",
//!     secret: "claim secret",
//!     device: DeviceId(0x2a),
//!     public_key: [7; 32],
//!     proof: [9; 64],
//! };
//! let mut buf = [0u8; 256];
//! let bytes = req.encode(&mut buf)?;
//! assert_eq!(ClaimRequest::decode(bytes)?, req);
//! // The secret never prints.
//! assert!(!format!("{req:?}").contains("claim secret"));
//!
//! let refused = ClaimResponse::Refused(ClaimRefusal::AlreadyUsed);
//! let bytes = refused.encode(&mut buf)?;
//! assert_eq!(ClaimResponse::decode(bytes)?, refused);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde::{Deserialize, Serialize};
use telemetra_core::DeviceId;
use telemetra_core::route::{MAX_CLAIM_ID_LEN, is_claim_id};

use crate::{DecodeError, EncodeError};

/// The format byte that starts every provisioning message of this build.
pub const PROVISION_FORMAT: u8 = 1;

/// The longest claim secret, in bytes.
pub const MAX_SECRET_LEN: usize = 64;

/// The longest device certificate (DER) a response carries.
pub const MAX_CERTIFICATE_LEN: usize = 2048;

/// The longest encoded [`ClaimRequest`].
pub const MAX_REQUEST_LEN: usize = 1 + 1 + MAX_CLAIM_ID_LEN + 1 + MAX_SECRET_LEN + 10 + 1 + 32 + 1 + 64;

/// The longest encoded [`ClaimResponse`].
pub const MAX_RESPONSE_LEN: usize = 1 + 1 + 10 + 2 + MAX_CERTIFICATE_LEN;

const PROOF_DOMAIN: &[u8] = b"telemetra claim v1\0";

/// The bytes a device signs with its new key to prove it holds it: a fixed domain string, the
/// claim id (length-prefixed), the device id (8 bytes, big-endian) and the public key.
///
/// Returns the message in `buf` and its length; `None` if `claim` is not a valid claim id.
pub fn proof_message<'b>(
    claim: &str,
    device: DeviceId,
    public_key: &[u8; 32],
    buf: &'b mut [u8; PROOF_MESSAGE_LEN],
) -> Option<&'b [u8]> {
    if !is_claim_id(claim) {
        return None;
    }
    let mut n = 0;
    for part in [PROOF_DOMAIN, &[claim.len() as u8], claim.as_bytes(), &device.0.to_be_bytes(), public_key] {
        buf[n..n + part.len()].copy_from_slice(part);
        n += part.len();
    }
    Some(&buf[..n])
}

/// The size of the buffer [`proof_message`] writes into.
pub const PROOF_MESSAGE_LEN: usize = PROOF_DOMAIN.len() + 1 + MAX_CLAIM_ID_LEN + 8 + 32;

/// A device's signing request, sent on its claim's request route.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ClaimRequest<'a> {
    /// The claim id (see `telemetra_core::route::is_claim_id`).
    pub claim: &'a str,
    /// The claim's secret (at most [`MAX_SECRET_LEN`] bytes). Never printed.
    pub secret: &'a str,
    /// The device id the device asks to be (the claim's allow-list decides).
    pub device: DeviceId,
    /// The device's new ed25519 public key.
    pub public_key: [u8; 32],
    /// The ed25519 signature by that key over [`proof_message`].
    pub proof: [u8; 64],
}

impl core::fmt::Debug for ClaimRequest<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClaimRequest")
            .field("claim", &self.claim)
            .field("secret", &"<redacted>")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct WireRequest<'a> {
    claim: &'a str,
    secret: &'a str,
    device: DeviceId,
    public_key: &'a [u8],
    proof: &'a [u8],
}

impl<'a> ClaimRequest<'a> {
    /// Encodes the request into `buf`; `buf` of [`MAX_REQUEST_LEN`] bytes always suffices.
    pub fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b mut [u8], EncodeError> {
        if !is_claim_id(self.claim) || self.secret.len() > MAX_SECRET_LEN {
            return Err(EncodeError::Unencodable);
        }
        let wire = WireRequest {
            claim: self.claim,
            secret: self.secret,
            device: self.device,
            public_key: &self.public_key,
            proof: &self.proof,
        };
        encode_with_format(&wire, buf, MAX_REQUEST_LEN)
    }

    /// Decodes a request, checking the format byte, the claim id, and every length.
    pub fn decode(bytes: &'a [u8]) -> Result<ClaimRequest<'a>, DecodeError> {
        let wire: WireRequest<'a> = decode_with_format(bytes)?;
        if !is_claim_id(wire.claim) || wire.secret.len() > MAX_SECRET_LEN {
            return Err(DecodeError::InvalidField);
        }
        Ok(ClaimRequest {
            claim: wire.claim,
            secret: wire.secret,
            device: wire.device,
            public_key: wire.public_key.try_into().map_err(|_| DecodeError::InvalidField)?,
            proof: wire.proof.try_into().map_err(|_| DecodeError::InvalidField)?,
        })
    }
}

/// Why the provisioning service refused a claim. The device learns no more than this: an
/// unknown claim and a wrong secret are one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ClaimRefusal {
    /// No such claim, or not its secret.
    #[error("unknown claim or wrong secret")]
    UnknownClaim,
    /// The claim was already used (claims are single-use).
    #[error("the claim was already used")]
    AlreadyUsed,
    /// The claim expired.
    #[error("the claim expired")]
    Expired,
    /// The device id asked for is not on the claim's allow-list.
    #[error("the device is not on the claim's allow-list")]
    DeviceNotAllowed,
    /// The proof does not verify under the public key sent.
    #[error("the proof of possession does not verify")]
    BadProof,
    /// The device id was revoked; it cannot be claimed again.
    #[error("the device was revoked")]
    Revoked,
    /// The service could not complete the claim (its store or the broker failed); the claim
    /// is not spent, try again later.
    #[error("the provisioning service is unavailable; try again")]
    Unavailable,
}

/// The provisioning service's answer, sent on the claim's response route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClaimResponse<'a> {
    /// The claim succeeded: the device's certificate, issued by the fleet CA for the public key
    /// of the request, with the device id as its common name.
    Issued {
        /// The device id granted.
        device: DeviceId,
        /// The certificate, DER (at most [`MAX_CERTIFICATE_LEN`] bytes).
        certificate: &'a [u8],
    },
    /// The claim was refused.
    Refused(ClaimRefusal),
}

impl<'a> ClaimResponse<'a> {
    /// Encodes the response into `buf`; `buf` of [`MAX_RESPONSE_LEN`] bytes always suffices.
    pub fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b mut [u8], EncodeError> {
        if let ClaimResponse::Issued { certificate, .. } = self
            && certificate.len() > MAX_CERTIFICATE_LEN
        {
            return Err(EncodeError::Unencodable);
        }
        encode_with_format(self, buf, MAX_RESPONSE_LEN)
    }

    /// Decodes a response, checking the format byte and the certificate's length.
    pub fn decode(bytes: &'a [u8]) -> Result<ClaimResponse<'a>, DecodeError> {
        let r: ClaimResponse<'a> = decode_with_format(bytes)?;
        match r {
            ClaimResponse::Issued { certificate, .. } if certificate.len() > MAX_CERTIFICATE_LEN => {
                Err(DecodeError::InvalidField)
            }
            r => Ok(r),
        }
    }
}

fn encode_with_format<'b, T: Serialize>(
    value: &T,
    buf: &'b mut [u8],
    max: usize,
) -> Result<&'b mut [u8], EncodeError> {
    let Some((first, rest)) = buf.split_first_mut() else {
        return Err(EncodeError::BufferTooSmall { available: 0, needed: max });
    };
    *first = PROVISION_FORMAT;
    let available = rest.len() + 1;
    let n = match postcard::to_slice(value, rest) {
        Ok(out) => out.len(),
        Err(postcard::Error::SerializeBufferFull) => {
            return Err(EncodeError::BufferTooSmall { available, needed: max });
        }
        Err(_) => return Err(EncodeError::Unencodable),
    };
    Ok(&mut buf[..1 + n])
}

fn decode_with_format<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, DecodeError> {
    let (&format, rest) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if format != PROVISION_FORMAT {
        return Err(DecodeError::UnsupportedVersion { found: format, supported: PROVISION_FORMAT });
    }
    let (value, extra) = postcard::take_from_bytes(rest)?;
    if !extra.is_empty() {
        return Err(DecodeError::TrailingBytes { extra: extra.len() });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn request() -> ClaimRequest<'static> {
        ClaimRequest {
            claim: "c-0123456789abcd",
            secret: "s3cret-with-sixty-four-bytes-at-most-0123456789-0123456789-01234",
            device: DeviceId(u64::MAX),
            public_key: [0xa5; 32],
            proof: [0x5a; 64],
        }
    }

    #[test]
    fn the_largest_messages_fit_their_bounds() {
        let req = request();
        assert_eq!(req.secret.len(), MAX_SECRET_LEN);
        let mut buf = [0u8; MAX_REQUEST_LEN];
        let n = req.encode(&mut buf).unwrap().len();
        assert!(n <= MAX_REQUEST_LEN, "{n}");
        assert_eq!(ClaimRequest::decode(&buf[..n]).unwrap(), req);

        let cert = [0x30u8; MAX_CERTIFICATE_LEN];
        let resp = ClaimResponse::Issued { device: DeviceId(u64::MAX), certificate: &cert };
        let mut buf = [0u8; MAX_RESPONSE_LEN];
        let n = resp.encode(&mut buf).unwrap().len();
        assert!(n <= MAX_RESPONSE_LEN, "{n}");
        assert_eq!(ClaimResponse::decode(&buf[..n]).unwrap(), resp);
    }

    #[test]
    fn oversized_fields_are_refused_both_ways() {
        let mut buf = [0u8; 4096];
        let long = "x".repeat(MAX_SECRET_LEN + 1);
        let req = ClaimRequest { secret: &long, ..request() };
        assert_eq!(req.encode(&mut buf), Err(EncodeError::Unencodable));
        let req = ClaimRequest { claim: "Not/A/Claim", ..request() };
        assert_eq!(req.encode(&mut buf), Err(EncodeError::Unencodable));

        // Hand-made: a valid layout with a 31-byte key, a bad claim id, an oversized secret.
        let mut wire = WireRequest {
            claim: "c1",
            secret: "s",
            device: DeviceId(1),
            public_key: &[1; 31],
            proof: &[2; 64],
        };
        let bytes = encode_with_format(&wire, &mut buf, 4096).unwrap().to_vec();
        assert_eq!(ClaimRequest::decode(&bytes), Err(DecodeError::InvalidField));
        wire.public_key = &[1; 32];
        wire.claim = "C1";
        let bytes = encode_with_format(&wire, &mut buf, 4096).unwrap().to_vec();
        assert_eq!(ClaimRequest::decode(&bytes), Err(DecodeError::InvalidField));
        wire.claim = "c1";
        wire.secret = &long;
        let bytes = encode_with_format(&wire, &mut buf, 4096).unwrap().to_vec();
        assert_eq!(ClaimRequest::decode(&bytes), Err(DecodeError::InvalidField));

        let cert = [0u8; MAX_CERTIFICATE_LEN + 1];
        let resp = ClaimResponse::Issued { device: DeviceId(1), certificate: &cert };
        assert_eq!(resp.encode(&mut buf), Err(EncodeError::Unencodable));
        let bytes = encode_with_format(&resp, &mut buf, 4096).unwrap().to_vec();
        assert_eq!(ClaimResponse::decode(&bytes), Err(DecodeError::InvalidField));
    }

    #[test]
    fn format_byte_trailing_bytes_and_small_buffers_are_named() {
        let mut buf = [0u8; MAX_REQUEST_LEN];
        let bytes = request().encode(&mut buf).unwrap().to_vec();
        let mut other = bytes.clone();
        other[0] = 2;
        assert_eq!(
            ClaimRequest::decode(&other),
            Err(DecodeError::UnsupportedVersion { found: 2, supported: 1 })
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(ClaimRequest::decode(&longer), Err(DecodeError::TrailingBytes { extra: 1 }));
        assert_eq!(ClaimRequest::decode(&[]), Err(DecodeError::Empty));
        assert_eq!(ClaimRequest::decode(&bytes[..bytes.len() - 1]), Err(DecodeError::Truncated));
        let mut small = [0u8; 20];
        assert!(matches!(request().encode(&mut small), Err(EncodeError::BufferTooSmall { .. })));
    }

    #[test]
    fn the_proof_message_binds_claim_device_and_key() {
        let mut a = [0u8; PROOF_MESSAGE_LEN];
        let mut b = [0u8; PROOF_MESSAGE_LEN];
        let base = proof_message("c1", DeviceId(1), &[1; 32], &mut a).unwrap().to_vec();
        for other in [
            proof_message("c2", DeviceId(1), &[1; 32], &mut b).unwrap().to_vec(),
            proof_message("c1", DeviceId(2), &[1; 32], &mut b).unwrap().to_vec(),
            proof_message("c1", DeviceId(1), &[2; 32], &mut b).unwrap().to_vec(),
        ] {
            assert_ne!(base, other);
        }
        assert!(proof_message("c-0123456789abcd", DeviceId(1), &[1; 32], &mut b).is_some());
        assert!(proof_message("C1", DeviceId(1), &[1; 32], &mut b).is_none());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = ClaimRequest::decode(&bytes);
            let _ = ClaimResponse::decode(&bytes);
        }

        #[test]
        fn requests_and_responses_round_trip(
            device in any::<u64>(),
            key in any::<[u8; 32]>(),
            secret in "[ -~]{0,64}",
            cert in proptest::collection::vec(any::<u8>(), 0..300),
            refusal in 0usize..7,
        ) {
            let req = ClaimRequest { claim: "c1", secret: &secret, device: DeviceId(device), public_key: key, proof: [3; 64] };
            let mut buf = [0u8; MAX_RESPONSE_LEN];
            let bytes = req.encode(&mut buf).unwrap().to_vec();
            prop_assert_eq!(ClaimRequest::decode(&bytes).unwrap(), req);
            let resp = ClaimResponse::Issued { device: DeviceId(device), certificate: &cert };
            let bytes = resp.encode(&mut buf).unwrap().to_vec();
            prop_assert_eq!(ClaimResponse::decode(&bytes).unwrap(), resp);
            let all = [ClaimRefusal::UnknownClaim, ClaimRefusal::AlreadyUsed, ClaimRefusal::Expired,
                ClaimRefusal::DeviceNotAllowed, ClaimRefusal::BadProof, ClaimRefusal::Revoked, ClaimRefusal::Unavailable];
            let resp = ClaimResponse::Refused(all[refusal]);
            let bytes = resp.encode(&mut buf).unwrap().to_vec();
            prop_assert_eq!(ClaimResponse::decode(&bytes).unwrap(), resp);
        }
    }
}

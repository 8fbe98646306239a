//! CoAP on tokio over UDP (`coap://`), TCP (`coap+tcp://`) and TLS (`coaps+tcp://`, RFC 8323): a
//! client ([`CoapClient`]) that runs requests to completion — retransmission over UDP,
//! block-wise transfers both ways, observations — and the telemetra
//! [`Transport`](telemetra_core::Transport) on CoAP for devices and servers
//! ([`transport`]). Each runs the sans-IO core of [`crate::coap`] in one task that owns its
//! socket; handles talk to it over channels.
//!
//! ```no_run
//! use telemetra_transports::coap::driver::{CoapClient, ClientConfig, Request};
//! use telemetra_transports::coap::Code;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = CoapClient::connect("coap://127.0.0.1:5683", ClientConfig::default()).await?;
//! let r = client.request(Request::get("time")).await?;
//! assert_eq!(r.code, Code::CONTENT);
//! // A 100 KB body goes up in Block1 blocks and comes back in Block2 blocks.
//! client.request(Request::put("big", vec![7; 100_000])).await?;
//! assert_eq!(client.request(Request::get("big")).await?.payload.len(), 100_000);
//! # Ok(()) }
//! ```

mod client;
mod error;
mod exchange;
#[cfg(feature = "oscore")]
mod sequence;
mod stream;
pub mod transport;
mod udp;

pub use client::{ClientConfig, ClientStats, CoapClient, Observation, Request, Response};
pub use error::CoapError;
#[cfg(feature = "oscore")]
pub use sequence::SequenceFile;

/// A TLS acceptor for CoAP over TLS (RFC 8323, ALPN "coap", TLS 1.2 or 1.3, rustls with
/// ring) from a server certificate chain and key (PEM): what the transport's server uses for
/// `coaps+tcp://`, for other endpoints on the same footing (the provisioning service's).
#[cfg(feature = "tls")]
pub fn tls_acceptor(
    identity: &crate::mqtt::driver::tls::Identity,
) -> Result<tokio_rustls::TlsAcceptor, CoapError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let tls = |e: &dyn std::fmt::Display| CoapError::Tls(e.to_string());
    let chain = CertificateDer::pem_slice_iter(&identity.cert_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls(&e))?;
    let key = PrivateKeyDer::from_pem_slice(&identity.key_pem).map_err(|e| tls(&e))?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| tls(&e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| tls(&e))?;
    config.alpn_protocols = vec![b"coap".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

/// The default port of `coap://` (RFC 7252 §6.1).
pub const DEFAULT_PORT: u16 = 5683;

pub(crate) use crate::clock::{millis, sleep_until};

/// What carries CoAP, from a URL's scheme.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Scheme {
    /// `coap://`: UDP.
    Udp,
    /// `coap+tcp://`: TCP (RFC 8323).
    Tcp,
    /// `coaps+tcp://`: TLS over TCP (RFC 8323).
    Tls,
}

/// The scheme, host and port of a `coap://`, `coap+tcp://` or `coaps+tcp://` URL.
pub(crate) fn parse_url(url: &str) -> Result<(Scheme, String, u16), CoapError> {
    let bad = || CoapError::BadUrl(url.to_string());
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let (scheme, port) = match scheme {
        "coap" => (Scheme::Udp, DEFAULT_PORT),
        "coap+tcp" => (Scheme::Tcp, stream::TCP_PORT),
        "coaps+tcp" => (Scheme::Tls, stream::TLS_PORT),
        _ => return Err(bad()),
    };
    let (host, port) = crate::address::host_port(rest, port).ok_or_else(bad)?;
    Ok((scheme, host, port))
}

/// Resolves a URL's host and port, refusing plaintext off loopback unless `allow_plaintext`.
pub(crate) async fn resolve(
    url: &str,
    allow_plaintext: bool,
) -> Result<(Scheme, String, std::net::SocketAddr), CoapError> {
    let (scheme, host, port) = parse_url(url)?;
    if scheme != Scheme::Tls && !crate::address::is_loopback(&host) && !allow_plaintext {
        return Err(CoapError::PlaintextRefused(host));
    }
    let addr = {
        let mut addrs =
            tokio::net::lookup_host((host.as_str(), port)).await.map_err(|e| CoapError::io("resolve", &e))?;
        addrs.next().ok_or_else(|| CoapError::BadUrl(url.to_string()))?
    };
    Ok((scheme, host, addr))
}

/// A seed for tokens, Message IDs and timeouts.
pub(crate) fn seed() -> u32 {
    let b = crate::random::unpredictable();
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

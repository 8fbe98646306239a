//! TLS by rustls (ring provider; no OpenSSL, so it cross-compiles): the server verified
//! against a given CA or the webpki roots, its host name checked, TLS 1.2 at least, and an
//! optional client certificate per device (mutual TLS).

use std::fmt;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use rustls::{ClientConfig, RootCertStore};

use super::ConfigError;

/// Which certificate authorities the client trusts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Roots {
    /// Mozilla's root program (the `webpki-roots` crate): for public brokers.
    #[default]
    WebPki,
    /// The certificates in this PEM text (a private CA).
    Pem(Vec<u8>),
}

/// A client certificate chain and its private key, in PEM (zeroed when dropped).
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    /// The certificate chain, leaf first.
    pub cert_chain_pem: Vec<u8>,
    /// The private key (PKCS#8, PKCS#1 or SEC1); never shown in `Debug`.
    pub key_pem: Vec<u8>,
}

impl Drop for Identity {
    /// The private key's bytes are overwritten with zeros.
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key_pem);
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity").field("key_pem", &"<redacted>").finish_non_exhaustive()
    }
}

/// TLS settings for `mqtts://`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsOptions {
    /// The trusted authorities.
    pub roots: Roots,
    /// A client certificate, for brokers that authenticate devices by certificate.
    pub identity: Option<Identity>,
    /// The name to verify in the server's certificate, when it is not the URL's host.
    pub server_name: Option<String>,
}

fn tls_err(part: &'static str, e: impl fmt::Display) -> ConfigError {
    ConfigError::Tls { part, reason: e.to_string() }
}

fn certs(pem: &[u8], what: &'static str) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs =
        CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>().map_err(|e| tls_err(what, e))?;
    if certs.is_empty() {
        return Err(tls_err(what, "no certificate in the PEM text"));
    }
    Ok(certs)
}

/// The rustls client configuration for `opts`.
pub fn client_config(opts: &TlsOptions) -> Result<ClientConfig, ConfigError> {
    let mut roots = RootCertStore::empty();
    match &opts.roots {
        Roots::WebPki => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Roots::Pem(pem) => {
            for c in certs(pem, "CA certificate")? {
                roots.add(c).map_err(|e| tls_err("CA certificate", e))?;
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| tls_err("protocol versions", e))?
        .with_root_certificates(roots);
    match &opts.identity {
        None => Ok(builder.with_no_client_auth()),
        Some(id) => {
            let chain = certs(&id.cert_chain_pem, "client certificate")?;
            let key = PrivateKeyDer::from_pem_slice(&id.key_pem).map_err(|e| tls_err("client key", e))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| tls_err("client certificate", e))
        }
    }
}

/// The connector and the server name to verify.
pub(crate) fn connector(
    opts: &TlsOptions,
    host: &str,
) -> Result<(tokio_rustls::TlsConnector, ServerName<'static>), ConfigError> {
    let name = opts.server_name.as_deref().unwrap_or(host);
    let name = ServerName::try_from(name.to_string()).map_err(|e| tls_err("server name", e))?;
    Ok((tokio_rustls::TlsConnector::from(Arc::new(client_config(opts)?)), name))
}

//! A test certificate authority (rcgen) and a TLS mosquitto whose certificate it issues.
//! Shared with the server's tests, so it needs nothing but rcgen and the broker module.
#![allow(dead_code)]

use super::broker::{Mosquitto, TempDir};

/// A test certificate authority (rcgen), made fresh for each test.
pub struct Pki {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Pki {
    pub fn new() -> Pki {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name.push(rcgen::DnType::CommonName, "telemetra test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        Pki { issuer: rcgen::CertifiedIssuer::self_signed(p, key).unwrap() }
    }

    pub fn ca_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `names` (host names, or the client's common name): (cert, key) PEM.
    pub fn issue(&self, names: &[&str], common_name: &str) -> (String, String) {
        let mut p =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, common_name);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A mosquitto with a TLS listener whose certificate names `names`; `extra` lines follow.
    pub fn broker(&self, names: &[&str], extra: &str) -> Mosquitto {
        let dir = TempDir::new("tls");
        let (cert, key) = self.issue(names, names.first().copied().unwrap_or("server"));
        dir.file("ca.pem", self.ca_pem());
        dir.file("server.pem", cert);
        dir.file("server.key", key);
        Mosquitto::start_in(
            dir,
            &format!(
                "cafile {{dir}}/ca.pem\ncertfile {{dir}}/server.pem\nkeyfile {{dir}}/server.key\n{extra}"
            ),
        )
    }
}

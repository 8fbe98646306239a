//! Opening the byte stream to the broker: TCP, or TLS over TCP.

use super::config::Config;
pub(crate) use crate::dial::{Dialer as Opener, Stream};

/// How to reach the broker of `config`.
pub(crate) fn opener(config: &Config) -> Result<Opener, super::ConfigError> {
    Ok(Opener {
        host: config.broker.host.clone(),
        port: config.broker.port,
        #[cfg(feature = "tls")]
        tls: if config.broker.tls {
            Some(super::tls::connector(&config.tls, &config.broker.host)?)
        } else {
            None
        },
    })
}

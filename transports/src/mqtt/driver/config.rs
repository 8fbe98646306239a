//! Where and how the driver connects: the broker URL, TLS, back-off and time limits.

use std::time::Duration;

use super::backoff::Backoff;
use crate::mqtt::client::Options;

/// The broker's address, from an `mqtt://host:port` or `mqtts://host:port` URL (default
/// ports 1883 and 8883).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    /// The host name or IP address (IPv6 without brackets).
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// TLS (`mqtts://`).
    pub tls: bool,
}

impl Broker {
    /// Parses `mqtt://host[:port]` or `mqtts://host[:port]`.
    pub fn parse(url: &str) -> Result<Broker, ConfigError> {
        let bad = || ConfigError::BadUrl(url.to_string());
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else {
            return Err(bad());
        };
        let default_port = if tls { 8883 } else { 1883 };
        let (host, port) = crate::address::host_port(rest, default_port).ok_or_else(bad)?;
        Ok(Broker { host, port, tls })
    }

    /// True for `localhost` and loopback addresses.
    pub fn is_loopback(&self) -> bool {
        crate::address::is_loopback(&self.host)
    }
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Not an `mqtt://` or `mqtts://` URL.
    #[error("not an mqtt:// or mqtts:// URL: {0:?}")]
    BadUrl(String),
    /// Plaintext to a host outside loopback, without [`Config::allow_plaintext`].
    #[error("plaintext MQTT to {0} would expose credentials and data; use mqtts:// or set allow_plaintext")]
    PlaintextRefused(String),
    /// `mqtts://` in a build without the `tls` feature.
    #[error("mqtts:// needs the `tls` feature of telemetra-transports")]
    TlsUnavailable,
    /// A certificate, key or server name that TLS cannot use.
    #[error("TLS configuration: the {part} is unusable: {reason}")]
    Tls {
        /// Which part of the TLS options ("CA certificate", "client key", "server name", ...).
        part: &'static str,
        /// What is wrong with it, as the TLS library says.
        reason: String,
    },
}

/// Everything the driver needs. `Config::new(url, options)` picks defaults for the rest.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The broker.
    pub broker: Broker,
    /// The MQTT session options.
    pub options: Options,
    /// Allow `mqtt://` (plaintext) to a host outside loopback.
    pub allow_plaintext: bool,
    /// TLS settings for `mqtts://`.
    #[cfg(feature = "tls")]
    pub tls: super::tls::TlsOptions,
    /// Delays between reconnect attempts.
    pub backoff: Backoff,
    /// How long opening the TCP (and TLS) connection may take.
    pub open_timeout: Duration,
    /// How long [`MqttClient::publish`](super::MqttClient::publish) waits for room in a full
    /// queue before it hands the message back.
    pub publish_timeout: Duration,
    /// How long [`MqttClient::disconnect`](super::MqttClient::disconnect) waits for in-flight
    /// QoS 1 and 2 messages to be acknowledged.
    pub shutdown_timeout: Duration,
}

impl Config {
    /// A configuration for the broker at `url`.
    pub fn new(url: &str, options: Options) -> Result<Config, ConfigError> {
        let broker = Broker::parse(url)?;
        if broker.tls && !cfg!(feature = "tls") {
            return Err(ConfigError::TlsUnavailable);
        }
        Ok(Config {
            broker,
            options,
            allow_plaintext: false,
            #[cfg(feature = "tls")]
            tls: super::tls::TlsOptions::default(),
            backoff: Backoff::default(),
            open_timeout: Duration::from_secs(10),
            publish_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
        })
    }

    /// Refuses what must not run: plaintext off loopback without the opt-in.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if !self.broker.tls && !self.broker.is_loopback() && !self.allow_plaintext {
            return Err(ConfigError::PlaintextRefused(self.broker.host.clone()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let b = Broker::parse("mqtt://127.0.0.1:1884").unwrap();
        assert_eq!((b.host.as_str(), b.port, b.tls), ("127.0.0.1", 1884, false));
        assert!(b.is_loopback());
        let b = Broker::parse("mqtts://broker.example.com").unwrap();
        assert_eq!((b.port, b.tls, b.is_loopback()), (8883, true, false));
        let b = Broker::parse("mqtt://[::1]:2000/").unwrap();
        assert_eq!((b.host.as_str(), b.port), ("::1", 2000));
        for bad in ["http://x", "mqtt://", "mqtt://h:x", "mqtt://u@h", "mqtt://[::1", "mqtt://h:99999"] {
            assert!(Broker::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plaintext_leaves_loopback_only_when_asked() {
        let c = Config::new("mqtt://broker.example.com", Options::new("a")).unwrap();
        assert_eq!(c.check(), Err(ConfigError::PlaintextRefused("broker.example.com".into())));
        let mut c = c;
        c.allow_plaintext = true;
        assert_eq!(c.check(), Ok(()));
        assert_eq!(Config::new("mqtt://localhost", Options::new("a")).unwrap().check(), Ok(()));
    }
}

//! Opening the byte stream to the broker: TCP, or TLS over TCP.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::config::Config;

/// A byte stream to the broker.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// How to reach the broker, prepared once (the TLS configuration is built up front, so a bad
/// certificate fails at start, not at every reconnect).
#[derive(Clone)]
pub(crate) struct Opener {
    host: String,
    port: u16,
    #[cfg(feature = "tls")]
    tls: Option<(tokio_rustls::TlsConnector, rustls_pki_types::ServerName<'static>)>,
}

impl Opener {
    pub fn new(config: &Config) -> Result<Opener, super::ConfigError> {
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

    pub async fn open(&self) -> std::io::Result<Box<dyn Stream>> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await?;
        tcp.set_nodelay(true)?;
        #[cfg(feature = "tls")]
        if let Some((connector, name)) = &self.tls {
            return Ok(Box::new(connector.connect(name.clone(), tcp).await?));
        }
        Ok(Box::new(tcp))
    }
}

//! Opening a byte stream to a peer, the one way every stream transport here does it (MQTT's
//! broker, CoAP over TCP and TLS): TCP with Nagle off, then TLS by rustls when configured.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A byte stream to a peer.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Where to connect and how, prepared once (the TLS configuration is built up front, so a bad
/// certificate fails at start, not at every reconnect).
#[derive(Clone)]
pub(crate) struct Dialer {
    pub(crate) host: String,
    pub(crate) port: u16,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<(tokio_rustls::TlsConnector, rustls_pki_types::ServerName<'static>)>,
}

impl Dialer {
    /// Connects (and shakes hands, over TLS).
    pub(crate) async fn open(&self) -> std::io::Result<Box<dyn Stream>> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await?;
        tcp.set_nodelay(true)?;
        #[cfg(feature = "tls")]
        if let Some((connector, name)) = &self.tls {
            return Ok(Box::new(connector.connect(name.clone(), tcp).await?));
        }
        Ok(Box::new(tcp))
    }
}

//! The service on CoAP over TLS (RFC 8323, `coaps+tcp://`): a device POSTs its claim request to
//! `/tm/v1/claims/{claim}/request` and gets 2.04 Changed with the answer, the same bytes the
//! MQTT side sends. The claim's secret travels only inside TLS. (CoAP over UDP is not offered:
//! without DTLS the secret would cross the network in clear.)

use std::sync::Arc;
use std::time::Duration;

use telemetra_transports::coap::tcp::{Connection, Frame, Received, build};
use telemetra_transports::coap::{Code, OptionNumber};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use super::Provisioner;

/// The largest message taken: a claim request is under 200 bytes.
const MAX_MESSAGE: usize = 1152;
/// A connection idle this long is closed.
const IDLE: Duration = Duration::from_secs(30);

impl Provisioner {
    /// Serves claims over CoAP over TLS on `listener` until it fails: each connection is
    /// accepted by `tls` (see `telemetra_transports::coap::driver::tls_acceptor`), sends its
    /// CSM, answers Ping, and answers each POST to a claim's request path.
    pub async fn serve_coap(
        self: Arc<Self>,
        listener: TcpListener,
        tls: tokio_rustls::TlsAcceptor,
    ) -> std::io::Result<()> {
        loop {
            let (tcp, peer) = listener.accept().await?;
            let (me, tls) = (self.clone(), tls.clone());
            tokio::spawn(async move {
                let stream = match tokio::time::timeout(IDLE, tls.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => return tracing::debug!(%peer, "claim connection refused in TLS: {e}"),
                    Err(_) => return tracing::debug!(%peer, "claim connection: no TLS handshake"),
                };
                if let Err(why) = me.coap_connection(stream).await {
                    tracing::debug!(%peer, "claim connection ended: {why}");
                }
            });
        }
    }

    async fn coap_connection<S: AsyncRead + AsyncWrite + Unpin>(&self, mut stream: S) -> Result<(), String> {
        let mut conn = Connection::new(MAX_MESSAGE);
        let mut out = [0u8; 64];
        stream
            .write_all(conn.csm(&mut out).map_err(|e| format!("{e:?}"))?)
            .await
            .map_err(|e| e.to_string())?;
        let mut buf: Vec<u8> = Vec::new();
        loop {
            // Every whole frame received so far.
            while let Some((frame, used)) = Frame::parse(&buf, MAX_MESSAGE).map_err(|e| format!("{e:?}"))? {
                let reply = match conn.on_frame(frame).map_err(|e| format!("{e:?}"))? {
                    Received::Message(m) => Some(self.coap_request(&m).await),
                    Received::Ping => {
                        Some(Connection::pong(&mut out, frame.token).map_err(|e| format!("{e:?}"))?.to_vec())
                    }
                    Received::Release { .. } | Received::Abort => return Ok(()),
                    _ => None,
                };
                if let Some(reply) = reply {
                    stream.write_all(&reply).await.map_err(|e| e.to_string())?;
                }
                buf.drain(..used);
            }
            let mut chunk = [0u8; 1024];
            let n = match tokio::time::timeout(IDLE, stream.read(&mut chunk)).await {
                Ok(Ok(0)) => return Ok(()),
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err(e.to_string()),
                Err(_) => return Err("idle".into()),
            };
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The answer to one request: 2.04 with the claim's answer, 4.04 for another path, 4.05 for
    /// another method, 4.00 for a request the service drops (undecodable, another claim's).
    async fn coap_request(&self, m: &Frame<'_>) -> Vec<u8> {
        let path: Vec<&str> = m
            .options()
            .filter(|(n, _)| *n == OptionNumber::URI_PATH)
            .map(|(_, v)| core::str::from_utf8(v).unwrap_or("\u{fffd}"))
            .collect();
        let path = path.join("/");
        let is_claim = telemetra_core::route::parse_claim_topic(&path)
            .is_some_and(|(_, r)| r == telemetra_core::route::ClaimRoute::Request);
        let (code, payload) = match (m.code, is_claim) {
            (_, false) => (Code::NOT_FOUND, Vec::new()),
            (Code::POST, true) => match self.handle(&path, m.payload).await {
                Some((_, answer)) => (Code::CHANGED, answer),
                None => (Code::BAD_REQUEST, Vec::new()),
            },
            _ => (Code::METHOD_NOT_ALLOWED, Vec::new()),
        };
        let mut out = vec![0u8; payload.len() + 64];
        match build(&mut out, code, m.token, |_| Ok(()), &payload) {
            Ok(bytes) => bytes.to_vec(),
            Err(_) => Vec::new(),
        }
    }
}

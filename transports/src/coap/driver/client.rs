//! [`CoapClient`]: requests run to completion. One task owns the socket (UDP, or a TCP or TLS
//! stream) and the sans-IO core; it sends bodies larger than one message in Block1 blocks,
//! follows Block2 to the end of a response body (its ETag must not change on the way), and keeps
//! observations open. Over UDP the core retransmits on the RFC 7252 schedule.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use super::CoapError;
use super::exchange::Exchanges;
use super::udp::Udp;
use crate::coap::block::Block;
use crate::coap::client::Client;
use crate::coap::reliability::Params;
use crate::coap::{BuildError, Builder, Code, Message, OptionNumber, Type, uint_value};

/// Requests outstanding at once in the core (more wait in the driver's queue).
pub(super) const SLOTS: usize = 16;
/// Notifications an observation holds before the application takes them.
const NOTES: usize = 64;

/// A request for [`CoapClient::request`]: method, path, query, Content-Format and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request {
    /// GET, POST, PUT, DELETE, FETCH, PATCH or iPATCH.
    pub method: Code,
    /// The Uri-Path segments.
    pub path: Vec<String>,
    /// The Uri-Query items.
    pub query: Vec<String>,
    /// The Content-Format of the payload.
    pub content_format: Option<u16>,
    /// The body (sent block-wise when it is larger than one message).
    pub payload: Vec<u8>,
    /// Confirmable (the default) or not.
    pub confirmable: bool,
}

impl Request {
    /// A request for `path` (`"a/b"`: segments split at `/`).
    pub fn new(method: Code, path: &str) -> Request {
        Request {
            method,
            path: path.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect(),
            query: Vec::new(),
            content_format: None,
            payload: Vec::new(),
            confirmable: true,
        }
    }

    /// A GET.
    pub fn get(path: &str) -> Request {
        Request::new(Code::GET, path)
    }

    /// A POST of `payload`.
    pub fn post(path: &str, payload: impl Into<Vec<u8>>) -> Request {
        Request { payload: payload.into(), ..Request::new(Code::POST, path) }
    }

    /// A PUT of `payload`.
    pub fn put(path: &str, payload: impl Into<Vec<u8>>) -> Request {
        Request { payload: payload.into(), ..Request::new(Code::PUT, path) }
    }

    /// A DELETE.
    pub fn delete(path: &str) -> Request {
        Request::new(Code::DELETE, path)
    }

    /// Sent non-confirmable (NON): no retransmission.
    pub fn non(mut self) -> Request {
        self.confirmable = false;
        self
    }

    /// With a Content-Format.
    pub fn with_content_format(mut self, format: u16) -> Request {
        self.content_format = Some(format);
        self
    }

    /// With one more Uri-Query item.
    pub fn with_query(mut self, item: &str) -> Request {
        self.query.push(item.to_string());
        self
    }

    pub(super) fn ty(&self) -> Type {
        if self.confirmable { Type::Con } else { Type::Non }
    }

    /// Its options, in order, with the Block options of the current step.
    pub(super) fn options(
        &self,
        b: &mut Builder<'_>,
        block2: Option<Block>,
        block1: Option<Block>,
    ) -> Result<(), BuildError> {
        for segment in &self.path {
            b.option(OptionNumber::URI_PATH, segment.as_bytes())?;
        }
        if let Some(f) = self.content_format {
            b.uint_option(OptionNumber::CONTENT_FORMAT, u32::from(f))?;
        }
        for item in &self.query {
            b.option(OptionNumber::URI_QUERY, item.as_bytes())?;
        }
        if let Some(block) = block2 {
            b.uint_option(OptionNumber::BLOCK2, block.value())?;
        }
        if let Some(block) = block1 {
            b.uint_option(OptionNumber::BLOCK1, block.value())?;
            if block.num == 0 {
                b.uint_option(OptionNumber::SIZE1, u32::try_from(self.payload.len()).unwrap_or(u32::MAX))?;
            }
        }
        Ok(())
    }
}

/// A response: its code, Content-Format, Observe number and whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// The response code.
    pub code: Code,
    /// Its Content-Format.
    pub content_format: Option<u16>,
    /// Its Observe number (the first response of an observation, and each notification).
    pub observe: Option<u32>,
    /// The body, joined from every block.
    pub payload: Vec<u8>,
}

impl Response {
    pub(super) fn of(m: &Message<'_>) -> Response {
        let uint = |n| m.option(n).and_then(uint_value);
        Response {
            code: m.code,
            content_format: uint(OptionNumber::CONTENT_FORMAT).and_then(|v| u16::try_from(v).ok()),
            observe: uint(OptionNumber::OBSERVE),
            payload: m.payload.to_vec(),
        }
    }
}

/// How the client runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The transmission parameters (RFC 7252 §4.8).
    pub params: Params,
    /// The largest payload sent in one message; a larger body goes in Block1 blocks. RFC
    /// 7252 §4.6 sizes a message at 1152 bytes, which holds a telemetra frame (1071 bytes)
    /// and its options: 1088 by default.
    pub max_unsplit: usize,
    /// The block size of block-wise transfers (16 to 1024, a power of two): 1024.
    pub block_size: usize,
    /// The largest response body joined from Block2 blocks: 1 MiB.
    pub max_body: usize,
    /// Allow `coap://` (plaintext) to a host outside loopback.
    pub allow_plaintext: bool,
    /// Retransmit a confirmable request past MAX_RETRANSMIT while the server still
    /// deduplicates it ([`Client::keep_trying`]): on for devices, off by default.
    pub keep_trying: bool,
    /// OSCORE (RFC 8613): every request protected with this context, every response and
    /// notification verified with it (its sequence number moves on with each request).
    #[cfg(feature = "oscore")]
    pub oscore: Option<crate::coap::oscore::SecurityContext>,
    /// Where that context's sender sequence number is kept across restarts (RFC 8613
    /// Appendix B.1.1). Without one, a device restarted with the same context would reuse
    /// nonces: set it, or derive a fresh context (a new ID Context) at every start.
    #[cfg(feature = "oscore")]
    pub oscore_sequence: Option<super::SequenceFile>,
    /// TLS for `coaps+tcp://`: the roots to trust, a client identity, the server name.
    #[cfg(feature = "tls")]
    pub tls: crate::mqtt::driver::tls::TlsOptions,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            params: Params::default(),
            max_unsplit: 1088,
            block_size: 1024,
            max_body: 1 << 20,
            allow_plaintext: false,
            keep_trying: false,
            #[cfg(feature = "oscore")]
            oscore: None,
            #[cfg(feature = "oscore")]
            oscore_sequence: None,
            #[cfg(feature = "tls")]
            tls: Default::default(),
        }
    }
}

/// Counters of a [`CoapClient`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Messages (requests and blocks) sent for the first time.
    pub requests: u64,
    /// Retransmissions.
    pub retransmissions: u64,
    /// Confirmable responses received again (acknowledged again, not reported).
    pub duplicates: u64,
    /// Datagrams that were not CoAP or matched nothing.
    pub ignored: u64,
    /// Notifications older than one already taken.
    pub stale: u64,
    /// Notifications dropped because the application did not take them in time.
    pub notifications_dropped: u64,
}

pub(super) type Reply = oneshot::Sender<Result<Response, CoapError>>;

pub(super) enum Op {
    Request {
        req: Request,
        reply: Reply,
    },
    Observe {
        req: Request,
        reply: Reply,
        notes: mpsc::Sender<Response>,
    },
    /// Cancel the observations whose application let go of them.
    Sweep,
}

/// A CoAP client over UDP; cheap to clone (every clone talks to the same task).
#[derive(Debug, Clone)]
pub struct CoapClient {
    ops: mpsc::Sender<Op>,
    stats: Arc<Mutex<ClientStats>>,
    peer: SocketAddr,
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Request { req, .. } | Op::Observe { req, .. } => {
                write!(f, "{} {:?}", req.method.name(), req.path)
            }
            Op::Sweep => write!(f, "sweep"),
        }
    }
}

/// The TLS connector for `coaps+tcp://` (ALPN "coap", RFC 8323 §4.1) and the name to verify.
#[cfg(feature = "tls")]
fn connector(
    config: &ClientConfig,
    host: &str,
) -> Result<(tokio_rustls::TlsConnector, rustls_pki_types::ServerName<'static>), CoapError> {
    let tls_error = |e: crate::mqtt::driver::ConfigError| CoapError::Tls(e.to_string());
    let mut rustls = crate::mqtt::driver::tls::client_config(&config.tls).map_err(tls_error)?;
    rustls.alpn_protocols = vec![b"coap".to_vec()];
    let name = config.tls.server_name.as_deref().unwrap_or(host);
    let name = rustls_pki_types::ServerName::try_from(name.to_string())
        .map_err(|e| CoapError::Tls(e.to_string()))?;
    Ok((tokio_rustls::TlsConnector::from(Arc::new(rustls)), name))
}

impl CoapClient {
    /// A client of the server at `url`: `coap://host[:port]` (UDP, port 5683 by default),
    /// `coap+tcp://host[:port]` (TCP, 5683) or `coaps+tcp://host[:port]` (TLS, 5684; with the
    /// `tls` feature). Plaintext to a host outside loopback needs
    /// [`ClientConfig::allow_plaintext`]. Over TCP and TLS the client connects in the
    /// background and again after a connection is lost; requests open on a lost connection
    /// fail (`CoapError::Io`), and so do those waiting while no connection can be made.
    #[cfg_attr(not(feature = "oscore"), allow(unused_mut))]
    pub async fn connect(url: &str, mut config: ClientConfig) -> Result<CoapClient, CoapError> {
        let (scheme, host, peer) = super::resolve(url, config.allow_plaintext).await?;
        #[cfg(feature = "oscore")]
        if let (Some(ctx), Some(file)) = (config.oscore.as_mut(), config.oscore_sequence.as_ref()) {
            file.attach(ctx).map_err(|e| CoapError::io("OSCORE sequence file", &e))?;
        }
        match scheme {
            super::Scheme::Udp => CoapClient::to(peer, config).await,
            super::Scheme::Tcp | super::Scheme::Tls => {
                Block::new(0, false, config.block_size).map_err(|e| CoapError::Build(e.to_string()))?;
                let target = super::stream::Target {
                    host: host.clone(),
                    port: peer.port(),
                    #[cfg(feature = "tls")]
                    tls: match scheme {
                        super::Scheme::Tls => Some(connector(&config, &host)?),
                        _ => None,
                    },
                };
                #[cfg(not(feature = "tls"))]
                if scheme == super::Scheme::Tls {
                    return Err(CoapError::BadUrl(format!("{url}: coaps+tcp:// needs the `tls` feature")));
                }
                let (ops, rx) = mpsc::channel(256);
                let stats = Arc::new(Mutex::new(ClientStats::default()));
                let exchanges = Exchanges::new(super::stream::Stream::new(), config, stats.clone());
                tokio::spawn(super::stream::run(exchanges, target, rx));
                Ok(CoapClient { ops, stats, peer })
            }
        }
    }

    /// A client of the server at `peer`.
    pub async fn to(peer: SocketAddr, config: ClientConfig) -> Result<CoapClient, CoapError> {
        Block::new(0, false, config.block_size).map_err(|e| CoapError::Build(e.to_string()))?;
        let local: SocketAddr = if peer.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
        let socket = UdpSocket::bind(local).await.map_err(|e| CoapError::io("bind", &e))?;
        socket.connect(peer).await.map_err(|e| CoapError::io("connect", &e))?;
        let (ops, rx) = mpsc::channel(256);
        let stats = Arc::new(Mutex::new(ClientStats::default()));
        let mut core = Box::new(Client::new(config.params, super::seed()));
        core.keep_trying(config.keep_trying);
        let exchanges = Exchanges::new(Udp(core), config, stats.clone());
        tokio::spawn(super::udp::run(exchanges, socket, rx));
        Ok(CoapClient { ops, stats, peer })
    }

    /// The server's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Counters so far.
    pub fn stats(&self) -> ClientStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `req` and waits for its whole response (every block). A response with an error
    /// code is a response, not an error: check [`Response::code`].
    pub async fn request(&self, req: Request) -> Result<Response, CoapError> {
        let (reply, answer) = oneshot::channel();
        self.ops.send(Op::Request { req, reply }).await.map_err(|_| CoapError::Closed)?;
        answer.await.map_err(|_| CoapError::Closed)?
    }

    /// Observes the resource `req` names (RFC 7641; `req` is sent as a GET with Observe 0):
    /// the first response, and the notifications that follow while the server keeps the
    /// observation (its first response has [`Response::observe`] set).
    pub async fn observe(&self, mut req: Request) -> Result<Observation, CoapError> {
        req.method = Code::GET;
        let (reply, answer) = oneshot::channel();
        let (notes, rx) = mpsc::channel(NOTES);
        self.ops.send(Op::Observe { req, reply, notes }).await.map_err(|_| CoapError::Closed)?;
        let first = answer.await.map_err(|_| CoapError::Closed)??;
        Ok(Observation { first, notes: rx, ops: Some(self.ops.clone()) })
    }
}

/// An observation: its first response, then each fresher state. Dropping it (or
/// [`Observation::cancel`]) cancels it on the server with a GET carrying Observe 1.
#[derive(Debug)]
pub struct Observation {
    /// The response to the registration.
    pub first: Response,
    notes: mpsc::Receiver<Response>,
    ops: Option<mpsc::Sender<Op>>,
}

impl Observation {
    /// The next notification; `None` once the observation ended (the server dropped it,
    /// reset it, or stopped answering).
    pub async fn next(&mut self) -> Option<Response> {
        self.notes.recv().await
    }

    /// The next notification if one is waiting.
    pub fn try_next(&mut self) -> Option<Response> {
        self.notes.try_recv().ok()
    }

    /// Cancels the observation (a GET with Observe 1).
    pub fn cancel(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(ops) = self.ops.take() {
            // The task finds the observation by its closed channel.
            self.notes.close();
            let _ = ops.try_send(Op::Sweep);
        }
    }
}

impl Drop for Observation {
    fn drop(&mut self) {
        self.stop();
    }
}

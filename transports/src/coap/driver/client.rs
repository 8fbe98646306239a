//! [`CoapClient`]: requests run to completion over UDP. One task owns the socket and the
//! sans-IO [`Client`]; it retransmits on the RFC 7252 schedule, sends bodies larger than one
//! message in Block1 blocks, follows Block2 to the end of a response body (its ETag must not
//! change on the way), and keeps observations open.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use super::CoapError;
use crate::coap::block::Block;
use crate::coap::block::transfer::{Download, Progress, TransferError, Upload};
use crate::coap::client::{Client, Event, RequestError, Token};
use crate::coap::reliability::Params;
use crate::coap::server::block2_of;
use crate::coap::{BuildError, Builder, Code, Message, OptionNumber, Type, uint_value};

/// Requests outstanding at once in the core (more wait in the driver's queue).
const SLOTS: usize = 16;
/// The largest message kept for retransmission.
const MESSAGE: usize = 1280;
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

    fn ty(&self) -> Type {
        if self.confirmable { Type::Con } else { Type::Non }
    }

    /// Its options, in order, with the Block options of the current step.
    fn options(
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
    fn of(m: &Message<'_>) -> Response {
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
#[derive(Debug, Clone, Copy)]
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

type Reply = oneshot::Sender<Result<Response, CoapError>>;

enum Op {
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

impl CoapClient {
    /// A client of the server at `url` (`coap://host[:port]`, port 5683 by default). Plaintext
    /// to a host outside loopback needs [`ClientConfig::allow_plaintext`].
    pub async fn connect(url: &str, config: ClientConfig) -> Result<CoapClient, CoapError> {
        let peer = super::resolve(url, config.allow_plaintext).await?;
        CoapClient::to(peer, config).await
    }

    /// A client of the server at `peer`.
    pub async fn to(peer: SocketAddr, config: ClientConfig) -> Result<CoapClient, CoapError> {
        Block::new(0, false, config.block_size).map_err(|e| CoapError::Build(e.to_string()))?;
        let local: SocketAddr = if peer.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
        let socket = UdpSocket::bind(local).await.map_err(|e| CoapError::io("bind", &e))?;
        socket.connect(peer).await.map_err(|e| CoapError::io("connect", &e))?;
        let (ops, rx) = mpsc::channel(256);
        let stats = Arc::new(Mutex::new(ClientStats::default()));
        let seed = super::seed();
        let mut core = Box::new(Client::new(config.params, seed));
        core.keep_trying(config.keep_trying);
        let task = Task {
            core,
            config,
            live: HashMap::new(),
            waiting: VecDeque::new(),
            start: tokio::time::Instant::now(),
            stats: stats.clone(),
            first_sends: 0,
        };
        tokio::spawn(task.run(socket, rx));
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

/// One request on its way: the block-wise steps left, the body gathered so far.
struct Exchange {
    req: Request,
    upload: Option<Upload>,
    download: Option<Download>,
    etag: Option<Vec<u8>>,
    body: Vec<u8>,
    reply: Option<Reply>,
    notes: Option<mpsc::Sender<Response>>,
}

impl Exchange {
    fn finish(mut self, result: Result<Response, CoapError>) {
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(result);
        }
    }
}

struct Task {
    core: Box<Client<SLOTS, MESSAGE>>,
    config: ClientConfig,
    live: HashMap<Token, Exchange>,
    waiting: VecDeque<Exchange>,
    start: tokio::time::Instant,
    stats: Arc<Mutex<ClientStats>>,
    first_sends: u64,
}

impl Task {
    async fn run(mut self, socket: UdpSocket, mut ops: mpsc::Receiver<Op>) {
        let mut buf = vec![0u8; 2048];
        let mut open = true;
        loop {
            let now = super::millis(self.start);
            while let Some(d) = self.core.poll_transmit(now) {
                if let Err(e) = socket.send(d).await {
                    tracing::debug!(error = %e, "CoAP datagram not sent");
                }
            }
            self.publish_stats();
            if !open && self.live.is_empty() && self.waiting.is_empty() {
                return;
            }
            let deadline = self.core.next_timeout().map(|t| self.start + Duration::from_millis(t));
            tokio::select! {
                op = ops.recv(), if open => match op {
                    Some(op) => self.take(op),
                    None => open = false,
                },
                r = socket.recv(&mut buf) => match r {
                    Ok(n) => self.datagram(&buf[..n]),
                    // An ICMP port unreachable from a server not (yet) there: retransmission
                    // covers it.
                    Err(e) => tracing::debug!(error = %e, "CoAP receive"),
                },
                () = super::sleep_until(deadline), if deadline.is_some() => self.timeout(),
            }
        }
    }

    fn publish_stats(&self) {
        let core = self.core.stats();
        let mut s = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        s.requests = self.first_sends;
        s.retransmissions = core.retransmissions;
        s.duplicates = core.duplicates;
        s.ignored = core.ignored;
        s.stale = core.stale;
    }

    fn take(&mut self, op: Op) {
        let (req, reply, notes) = match op {
            Op::Request { req, reply } => (req, reply, None),
            Op::Observe { req, reply, notes } => (req, reply, Some(notes)),
            Op::Sweep => return self.cancel_closed(),
        };
        let upload = (req.payload.len() > self.config.max_unsplit)
            .then(|| Upload::new(req.payload.len(), self.config.block_size).ok())
            .flatten();
        let ex =
            Exchange { req, upload, download: None, etag: None, body: Vec::new(), reply: Some(reply), notes };
        self.issue(ex);
    }

    /// Cancels the observations whose application dropped them.
    fn cancel_closed(&mut self) {
        let gone: Vec<Token> = self
            .live
            .iter()
            .filter(|(_, ex)| ex.notes.as_ref().is_some_and(|n| n.is_closed()))
            .map(|(t, _)| *t)
            .collect();
        let now = super::millis(self.start);
        for token in gone {
            let Some(ex) = self.live.remove(&token) else { continue };
            let sent = self.core.cancel(now, token, ex.req.ty(), |b| ex.req.options(b, None, None));
            if !matches!(sent, Ok(true)) {
                // No room for the GET: its next notification is answered RST instead.
                self.core.forget(token);
            }
        }
    }

    /// Sends the exchange's next message (or queues it while the core is full).
    fn issue(&mut self, ex: Exchange) {
        let now = super::millis(self.start);
        let req = &ex.req;
        let result = if let Some(up) = &ex.upload {
            let (block, range) = up.block();
            self.core.request(
                now,
                req.ty(),
                req.method,
                |b| req.options(b, None, Some(block)),
                &req.payload[range],
            )
        } else if let Some(down) = &ex.download {
            self.core.request(now, req.ty(), req.method, |b| req.options(b, Some(down.next()), None), &[])
        } else if ex.notes.is_some() {
            self.core.observe(now, req.ty(), |b| req.options(b, None, None))
        } else {
            let early = (self.config.block_size < 1024)
                .then(|| Block::new(0, false, self.config.block_size).ok())
                .flatten()
                .filter(|_| req.method == Code::GET);
            self.core.request(now, req.ty(), req.method, |b| req.options(b, early, None), &req.payload)
        };
        match result {
            Ok(token) => {
                self.first_sends += 1;
                self.live.insert(token, ex);
            }
            Err(RequestError::Busy) => self.waiting.push_back(ex),
            Err(e) => ex.finish(Err(CoapError::Build(e.to_string()))),
        }
    }

    /// Starts what waited for a free slot.
    fn resume(&mut self) {
        while self.core.outstanding() < SLOTS {
            let Some(ex) = self.waiting.pop_front() else { return };
            self.issue(ex);
        }
    }

    fn datagram(&mut self, bytes: &[u8]) {
        let now = super::millis(self.start);
        match self.core.handle_datagram(now, bytes) {
            Some(Event::Response { token, message }) => self.response(token, &message),
            Some(Event::Notification { token, message }) => {
                let dropped = match self.live.get(&token).and_then(|ex| ex.notes.as_ref()) {
                    Some(notes) => notes.try_send(Response::of(&message)).is_err(),
                    None => false,
                };
                if dropped {
                    self.stats.lock().unwrap_or_else(|p| p.into_inner()).notifications_dropped += 1;
                }
            }
            Some(Event::Reset(token)) => self.end(token, CoapError::Reset),
            Some(Event::TimedOut(token)) => self.end(token, CoapError::TimedOut),
            None => {}
        }
        self.resume();
    }

    fn timeout(&mut self) {
        let now = super::millis(self.start);
        while let Some(event) = self.core.handle_timeout(now) {
            match event {
                Event::TimedOut(token) => self.end(token, CoapError::TimedOut),
                Event::Reset(token) => self.end(token, CoapError::Reset),
                _ => {}
            }
        }
        self.resume();
    }

    fn end(&mut self, token: Token, error: CoapError) {
        if let Some(ex) = self.live.remove(&token) {
            ex.finish(Err(error));
        }
    }

    fn response(&mut self, token: Token, m: &Message<'_>) {
        // A response nothing waits for (the answer to a cancellation) ends here.
        let Some(mut ex) = self.live.remove(&token) else { return };
        if let Some(up) = &mut ex.upload {
            let block1 = m.option(OptionNumber::BLOCK1).and_then(|v| Block::decode(v).ok());
            match up.on_response(m.code, block1) {
                Ok(Progress::Next) => return self.issue(ex),
                Ok(Progress::Finished) => ex.upload = None,
                Err(TransferError::Refused(_)) => return ex.finish(Ok(Response::of(m))),
                Err(e) => return ex.finish(Err(e.into())),
            }
        }
        let block2 = block2_of(m).filter(|b| ex.notes.is_none() && (b.more || ex.download.is_some()));
        if let Some(block) = block2 {
            let etag = m.option(OptionNumber::ETAG);
            match &ex.download {
                None => {
                    ex.download = Some(Download::new(self.config.max_body));
                    ex.etag = etag.map(<[u8]>::to_vec);
                }
                Some(_) if ex.etag.as_deref() != etag => {
                    return ex.finish(Err(TransferError::Mismatch.into()));
                }
                Some(_) => {}
            }
            let Some(down) = ex.download.as_mut() else { return };
            match down.on_block(block, m.payload.len()) {
                Ok(Progress::Next) => {
                    ex.body.extend_from_slice(m.payload);
                    return self.issue(ex);
                }
                Ok(Progress::Finished) => {
                    ex.body.extend_from_slice(m.payload);
                    let mut r = Response::of(m);
                    r.payload = std::mem::take(&mut ex.body);
                    return ex.finish(Ok(r));
                }
                Err(e) => return ex.finish(Err(e.into())),
            }
        }
        let r = Response::of(m);
        if ex.notes.is_some() && r.observe.is_some() && m.code.class() == 2 {
            // The server took the observation: it stays open for the notifications.
            if let Some(reply) = ex.reply.take() {
                let _ = reply.send(Ok(r));
            }
            self.live.insert(token, ex);
            return;
        }
        ex.finish(Ok(r));
    }
}

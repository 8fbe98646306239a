//! The server on CoAP: frames POSTed by devices go to `receive`, frames it `send`s go to the
//! devices observing their routes, one confirmable notification at a time per route.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use telemetra_core::transport::{Receiver, Sender};
use telemetra_core::{Delivery, Route, RouteFilter, Transport};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use super::super::error::CoapError;
use super::Inbox;
use crate::coap::block::Block;
use crate::coap::reliability::Params;
use crate::coap::server::{Incoming, Request, Server, Unacknowledged};
use crate::coap::{BuildError, Builder, Code, Message, OptionNumber};

/// Requests remembered for deduplication.
const CACHE: usize = 256;
/// The largest message.
const MESSAGE: usize = 1280;
/// Confirmable notifications awaiting acknowledgement at once.
const IN_FLIGHT: usize = 64;
/// Observations at once.
const OBSERVERS: usize = 1024;

type Core = Server<SocketAddr, CACHE, MESSAGE, IN_FLIGHT, OBSERVERS>;
type Reply = oneshot::Sender<Result<(), CoapError>>;
/// Frames waiting for a route's observers, each with who waits for its acknowledgement.
type Pending = VecDeque<(Vec<u8>, Option<Reply>)>;

/// How the server runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The transmission parameters (RFC 7252 §4.8).
    pub params: Params,
    /// Frames received and not yet taken by `receive`; a POST beyond is answered 5.03: 4096.
    pub incoming: usize,
    /// Frames waiting for one device route (not yet observed, or behind an unacknowledged
    /// one); `send` beyond is refused with `QueueFull`: 256.
    pub pending_per_route: usize,
    /// Allow binding `coap://` (plaintext) outside loopback.
    pub allow_plaintext: bool,
    /// How long `close` waits for notifications in flight: 10 s.
    pub close_timeout: Duration,
    /// The server's certificate chain and key for `coaps+tcp://`.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::mqtt::driver::tls::Identity>,
    /// Called with each frame a device POSTs, before the device gets its 2.04: `false`
    /// answers 5.03 Service Unavailable instead (the device sends the frame again later). A
    /// gateway stores the frame durably here, so that an acknowledged frame survives a crash.
    /// It runs on the server's task: keep it short (an fsync'd write is).
    pub before_ack: Option<BeforeAck>,
    /// OSCORE (RFC 8613): one context per device (this side's Sender ID and the device's as
    /// Recipient ID). With any configured, only requests protected by one of them are taken.
    /// The server keeps no replay window across restarts: each starts recovering them (RFC
    /// 8613 Appendix B.1.2), so a device's first request after a restart is answered 4.01
    /// with an Echo value and taken when it comes again with it (`CoapClient` and aiocoap do
    /// this by themselves); a request captured before the restart is never taken again.
    #[cfg(feature = "oscore")]
    pub oscore: Vec<crate::coap::oscore::SecurityContext>,
}

/// Takes a frame (its route and bytes) before it is acknowledged: `true` once it is safe.
pub type KeepFrame = dyn Fn(Route, &[u8]) -> bool + Send + Sync;

/// See [`ServerConfig::before_ack`].
#[derive(Clone)]
pub struct BeforeAck(pub Arc<KeepFrame>);

impl std::fmt::Debug for BeforeAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BeforeAck(..)")
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            params: Params::default(),
            incoming: 4096,
            pending_per_route: 256,
            allow_plaintext: false,
            close_timeout: Duration::from_secs(10),
            #[cfg(feature = "tls")]
            tls: None,
            before_ack: None,
            #[cfg(feature = "oscore")]
            oscore: Vec::new(),
        }
    }
}

enum Op {
    Send { route: Route, payload: Vec<u8>, reply: Option<Reply> },
    Close(oneshot::Sender<()>),
}

/// What the server's handles share with its task.
#[derive(Debug, Default)]
struct Shared {
    filters: Vec<RouteFilter>,
}

/// A server's [`Transport`] over CoAP (see the [module documentation](super)).
#[derive(Debug)]
pub struct CoapServer {
    tx: CoapServerSender,
    rx: CoapServerReceiver,
    local: SocketAddr,
}

/// The sending half of a [`CoapServer`].
#[derive(Debug, Clone)]
pub struct CoapServerSender {
    ops: mpsc::Sender<Op>,
    close_timeout: Duration,
}

/// The receiving half of a [`CoapServer`].
#[derive(Debug)]
pub struct CoapServerReceiver {
    shared: Arc<Mutex<Shared>>,
    incoming: Inbox,
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Send { route, payload, .. } => write!(f, "{} ({} bytes)", route.topic(), payload.len()),
            Op::Close(_) => f.write_str("close"),
        }
    }
}

impl CoapServer {
    /// Binds the server at `url`: `coap://host[:port]` (UDP), `coap+tcp://` (TCP) or
    /// `coaps+tcp://` (TLS, with [`ServerConfig`]'s `tls` certificate); port 0 picks a free
    /// one, see [`CoapServer::local_addr`]. Plaintext outside loopback needs
    /// [`ServerConfig::allow_plaintext`]. OSCORE is served over UDP only: with contexts
    /// configured, a `coap+tcp://` or `coaps+tcp://` URL is refused.
    #[cfg_attr(not(feature = "oscore"), allow(unused_mut))]
    pub async fn bind(url: &str, mut config: ServerConfig) -> Result<CoapServer, CoapError> {
        let (scheme, _, addr) = super::super::resolve(url, config.allow_plaintext).await?;
        if scheme != super::super::Scheme::Udp {
            return CoapServer::bind_stream(url, scheme, addr, config).await;
        }
        let socket = UdpSocket::bind(addr).await.map_err(|e| CoapError::io("bind", &e))?;
        let local = socket.local_addr().map_err(|e| CoapError::io("bind", &e))?;
        let (ops, op_rx) = mpsc::channel(1024);
        let (delivered, incoming) = mpsc::channel(config.incoming.max(1));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let close_timeout = config.close_timeout;
        #[cfg(feature = "oscore")]
        let contexts = oscore::contexts(&mut config);
        let intake = Intake::new(shared.clone(), delivered, config.before_ack.clone());
        let task = Task {
            core: Box::new(Server::new(config.params, super::super::seed() as u16)),
            config,
            outbox: Vec::new(),
            #[cfg(feature = "oscore")]
            contexts,
            #[cfg(feature = "oscore")]
            bound: HashMap::new(),
            #[cfg(feature = "oscore")]
            notified: HashMap::new(),
            intake,
            resources: HashMap::new(),
            pending: HashMap::new(),
            in_flight: HashMap::new(),
            start: tokio::time::Instant::now(),
            random: super::super::seed() | 1,
        };
        tokio::spawn(task.run(socket, op_rx));
        Ok(CoapServer {
            tx: CoapServerSender { ops, close_timeout },
            rx: CoapServerReceiver { shared, incoming: Inbox(incoming) },
            local,
        })
    }

    /// The server over TCP or TLS (RFC 8323).
    async fn bind_stream(
        url: &str,
        scheme: super::super::Scheme,
        addr: SocketAddr,
        config: ServerConfig,
    ) -> Result<CoapServer, CoapError> {
        #[cfg(feature = "oscore")]
        if !config.oscore.is_empty() {
            // Never serve unprotected what the configuration says must be protected.
            return Err(CoapError::BadUrl(format!(
                "{url}: OSCORE is served over coap:// (UDP) only; over TCP use coaps+tcp:// (TLS) without it"
            )));
        }
        let tls: stream::Acceptor = match scheme {
            #[cfg(feature = "tls")]
            super::super::Scheme::Tls => {
                let identity = config.tls.as_ref().ok_or_else(|| {
                    CoapError::Tls(format!(
                        "{url}: a coaps+tcp:// server needs ServerConfig::tls (its certificate)"
                    ))
                })?;
                Some(stream::acceptor(identity)?)
            }
            #[cfg(not(feature = "tls"))]
            super::super::Scheme::Tls => {
                return Err(CoapError::BadUrl(format!("{url}: coaps+tcp:// needs the `tls` feature")));
            }
            _ => None,
        };
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| CoapError::io("bind", &e))?;
        let local = listener.local_addr().map_err(|e| CoapError::io("bind", &e))?;
        let (ops, op_rx) = mpsc::channel(1024);
        let (delivered, incoming) = mpsc::channel(config.incoming.max(1));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let intake = Intake::new(shared.clone(), delivered, config.before_ack.clone());
        let task = stream::StreamTask::new(intake, config.pending_per_route);
        tokio::spawn(task.run(listener, tls, op_rx));
        Ok(CoapServer {
            tx: CoapServerSender { ops, close_timeout: config.close_timeout },
            rx: CoapServerReceiver { shared, incoming: Inbox(incoming) },
            local,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

struct Task {
    core: Box<Core>,
    config: ServerConfig,
    /// Datagrams to send that the core does not keep (protected notifications' first copies).
    outbox: Vec<(SocketAddr, Vec<u8>)>,
    /// The OSCORE contexts, one per device.
    #[cfg(feature = "oscore")]
    contexts: Vec<crate::coap::oscore::SecurityContext>,
    /// Each OSCORE observer's context and registration, by peer and token.
    #[cfg(feature = "oscore")]
    bound: HashMap<(SocketAddr, Vec<u8>), oscore::Bound>,
    /// The token of each protected notification in flight, by peer and Message ID.
    #[cfg(feature = "oscore")]
    notified: HashMap<(SocketAddr, u16), Vec<u8>>,
    /// What POSTs bring: frames for `receive`, retained state, Block1 transfers.
    intake: Intake,
    /// Each route's resource number for the core.
    resources: HashMap<Route, u32>,
    /// Frames waiting to be notified, per route.
    pending: HashMap<Route, Pending>,
    /// The notifications of each route's front frame awaiting acknowledgement.
    in_flight: HashMap<Route, Vec<(SocketAddr, u16)>>,
    start: tokio::time::Instant,
    random: u32,
}

impl Task {
    async fn run(mut self, socket: UdpSocket, mut ops: mpsc::Receiver<Op>) {
        let mut buf = vec![0u8; 2048];
        let mut closing: Option<oneshot::Sender<()>> = None;
        loop {
            while let Some((peer, bytes)) = self.core.poll_transmit() {
                send(&socket, peer, bytes).await;
            }
            for (peer, bytes) in std::mem::take(&mut self.outbox) {
                send(&socket, peer, &bytes).await;
            }
            if closing.is_some() && self.in_flight.is_empty() {
                if let Some(done) = closing.take() {
                    let _ = done.send(());
                }
                return;
            }
            let deadline = self.core.next_timeout().map(|t| crate::clock::instant(self.start, t));
            tokio::select! {
                op = ops.recv(), if closing.is_none() => match op {
                    Some(Op::Send { route, payload, reply }) => self.queue(route, payload, reply),
                    Some(Op::Close(done)) => closing = Some(done),
                    None => return,
                },
                r = socket.recv_from(&mut buf) => match r {
                    Ok((n, peer)) => self.datagram(&socket, peer, &buf[..n]).await,
                    Err(e) => tracing::debug!(error = %e, "CoAP receive"),
                },
                () = super::super::sleep_until(deadline), if deadline.is_some() => self.timeout(),
            }
        }
    }

    fn now(&self) -> u64 {
        super::super::millis(self.start)
    }

    fn next_random(&mut self) -> u32 {
        crate::coap::xorshift(&mut self.random)
    }

    fn resource(&mut self, route: Route) -> u32 {
        let next = self.resources.len() as u32;
        *self.resources.entry(route).or_insert(next)
    }

    fn queue(&mut self, route: Route, payload: Vec<u8>, reply: Option<Reply>) {
        if enqueue(&mut self.pending, self.config.pending_per_route, route, payload, reply) {
            self.deliver(route);
        }
    }

    /// Notifies the front frame of `route` to its observers, unless one is in flight.
    fn deliver(&mut self, route: Route) {
        if self.in_flight.contains_key(&route) {
            return;
        }
        let resource = self.resource(route);
        if self.core.observers_of(resource) == 0 {
            return;
        }
        let Some((payload, _)) = self.pending.get(&route).and_then(VecDeque::front) else { return };
        let payload = payload.clone();
        #[cfg(feature = "oscore")]
        if !self.contexts.is_empty() {
            let sent = self.notify_protected(resource, &payload);
            if !sent.is_empty() {
                self.in_flight.insert(route, sent);
            }
            return;
        }
        let (now, random) = (self.now(), self.next_random());
        let mut sent = Vec::new();
        let notified = self.core.notify_confirmable(
            now,
            resource,
            Code::CONTENT,
            |_| Ok(()),
            &payload,
            random,
            |peer, id| sent.push((peer, id)),
        );
        match notified {
            Ok(n) if n > 0 => _ = self.in_flight.insert(route, sent),
            // No retransmission slot free: tried again when one is.
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(route = %route.topic(), error = %e, "CoAP notification cannot be built: dropped");
                if let Some((_, Some(reply))) = self.pending.get_mut(&route).and_then(VecDeque::pop_front) {
                    let _ = reply.send(Err(CoapError::Build(e.to_string())));
                }
            }
        }
    }

    /// Delivers every route that waits for a free slot or an observer.
    fn deliver_all(&mut self) {
        let routes: Vec<Route> =
            self.pending.iter().filter(|(_, q)| !q.is_empty()).map(|(r, _)| *r).collect();
        for route in routes {
            self.deliver(route);
        }
    }

    /// A notification was acknowledged (`delivered`) or will never be.
    fn settle(&mut self, peer: SocketAddr, message_id: u16, delivered: bool) {
        #[cfg(feature = "oscore")]
        if delivered {
            self.notified.remove(&(peer, message_id));
        } else {
            self.observer_gone(peer, message_id);
        }
        let Some(route) =
            self.in_flight.iter().find(|(_, s)| s.contains(&(peer, message_id))).map(|(r, _)| *r)
        else {
            return;
        };
        let sent = self.in_flight.get_mut(&route).map(|s| {
            s.retain(|x| *x != (peer, message_id));
            s.is_empty()
        });
        if delivered {
            self.in_flight.remove(&route);
            if let Some((_, Some(reply))) = self.pending.get_mut(&route).and_then(VecDeque::pop_front) {
                let _ = reply.send(Ok(()));
            }
        } else if sent == Some(true) {
            // Nobody took it: it stays first in line for the next observer.
            self.in_flight.remove(&route);
        }
        self.deliver_all();
    }

    fn timeout(&mut self) {
        let now = self.now();
        while let Some(Unacknowledged { peer, message_id }) = self.core.handle_timeout(now) {
            self.settle(peer, message_id, false);
        }
    }

    async fn datagram(&mut self, socket: &UdpSocket, peer: SocketAddr, bytes: &[u8]) {
        let now = self.now();
        let request = match self.core.handle_datagram(now, peer, bytes) {
            Incoming::Request(r) => r,
            Incoming::Reply(answer) => return send(socket, peer, answer).await,
            Incoming::Acknowledged { peer, message_id } => return self.settle(peer, message_id, true),
            Incoming::Rejected { peer, message_id } => return self.settle(peer, message_id, false),
            Incoming::Ignored => return,
        };
        #[cfg(feature = "oscore")]
        if !self.contexts.is_empty() {
            return self.protected(socket, now, request).await;
        }
        let answer = self.handle(now, &request);
        let reply = self.core.respond(now, &request, answer.code, |b| answer.options(b), &answer.payload);
        match reply {
            Ok(bytes) => send(socket, peer, bytes).await,
            Err(e) => tracing::warn!(error = %e, "CoAP response cannot be built"),
        }
        if answer.observe.is_some() {
            self.deliver_all();
        }
    }

    /// What a request gets.
    fn handle(&mut self, now: u64, request: &Request<'_, SocketAddr>) -> Answer {
        let m = &request.message;
        let Some(route) = route_of(m) else { return Answer::code(Code::NOT_FOUND) };
        match m.code {
            Code::POST | Code::PUT => self.intake.post(now, request.peer, route, m),
            Code::GET => {
                let resource = self.resource(route);
                match self.core.observe(now, request, resource) {
                    Some(n) => Answer { observe: Some(n), ..Answer::code(Code::CONTENT) },
                    None => match self.intake.retained(route) {
                        Some(frame) => Answer { payload: frame.clone(), ..Answer::code(Code::CONTENT) },
                        None if m.option(OptionNumber::OBSERVE).is_some() => Answer::code(Code::CONTENT),
                        None => Answer::code(Code::NOT_FOUND),
                    },
                }
            }
            _ => Answer::code(Code::METHOD_NOT_ALLOWED),
        }
    }
}

/// The response to a request.
struct Answer {
    code: Code,
    observe: Option<u32>,
    block1: Option<Block>,
    size1: Option<u32>,
    payload: Vec<u8>,
}

impl Answer {
    fn code(code: Code) -> Answer {
        Answer { code, observe: None, block1: None, size1: None, payload: Vec::new() }
    }

    /// Its options, in order.
    fn options(&self, b: &mut Builder<'_>) -> Result<(), BuildError> {
        if let Some(n) = self.observe {
            b.uint_option(OptionNumber::OBSERVE, n)?;
        }
        if self.code == Code::SERVICE_UNAVAILABLE {
            b.uint_option(OptionNumber::MAX_AGE, 1)?;
        }
        if let Some(block) = self.block1 {
            b.uint_option(OptionNumber::BLOCK1, block.value())?;
        }
        if let Some(size) = self.size1 {
            b.uint_option(OptionNumber::SIZE1, size)?;
        }
        Ok(())
    }
}

mod intake;
#[cfg(feature = "oscore")]
mod oscore;
mod stream;

use intake::Intake;

/// Queues a frame for `route`'s observers, at most `limit` per route (beyond, `reply` learns
/// the queue is full); whether it was queued.
fn enqueue(
    pending: &mut HashMap<Route, Pending>,
    limit: usize,
    route: Route,
    payload: Vec<u8>,
    reply: Option<Reply>,
) -> bool {
    let queue = pending.entry(route).or_default();
    if queue.len() >= limit {
        if let Some(reply) = reply {
            let _ = reply.send(Err(CoapError::QueueFull));
        }
        return false;
    }
    queue.push_back((payload, reply));
    true
}

/// The route a request's Uri-Path names.
fn route_of(m: &Message<'_>) -> Option<Route> {
    let mut path = String::new();
    for (number, value) in m.options() {
        if number == OptionNumber::URI_PATH {
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(std::str::from_utf8(value).ok()?);
        }
    }
    Route::parse_topic(&path)
}

async fn send(socket: &UdpSocket, peer: SocketAddr, bytes: &[u8]) {
    if let Err(e) = socket.send_to(bytes, peer).await {
        tracing::debug!(%peer, error = %e, "CoAP datagram not sent");
    }
}

crate::forward::error_type!(CoapError: CoapServer, CoapServerSender, CoapServerReceiver);

impl Sender for CoapServerSender {
    /// Queues `payload` for the devices observing `route`.
    async fn send(&mut self, route: Route, payload: &[u8]) -> Result<(), CoapError> {
        let op = Op::Send { route, payload: payload.to_vec(), reply: None };
        self.ops.send(op).await.map_err(|_| CoapError::Closed)
    }

    /// Returns when a device observing `route` acknowledged the notification.
    async fn send_acked(&mut self, route: Route, payload: &[u8]) -> Result<(), CoapError> {
        let (reply, answer) = oneshot::channel();
        let op = Op::Send { route, payload: payload.to_vec(), reply: Some(reply) };
        self.ops.send(op).await.map_err(|_| CoapError::Closed)?;
        answer.await.map_err(|_| CoapError::Closed)?
    }

    /// Waits (at most `close_timeout`) for the notifications in flight, then stops serving.
    async fn close(&mut self) -> Result<(), CoapError> {
        let (done, drained) = oneshot::channel();
        if self.ops.send(Op::Close(done)).await.is_err() {
            return Ok(());
        }
        tokio::time::timeout(self.close_timeout, drained).await.map(drop).map_err(|_| CoapError::TimedOut)
    }
}

impl Receiver for CoapServerReceiver {
    /// Accepts frames POSTed to routes `filter` passes (others are answered 4.04).
    async fn subscribe(&mut self, filter: RouteFilter) -> Result<(), CoapError> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner()).filters.push(filter);
        Ok(())
    }

    async fn receive(&mut self, buf: &mut [u8]) -> Result<Delivery, CoapError> {
        self.incoming.receive(buf).await
    }

    fn try_receive(&mut self, buf: &mut [u8]) -> Result<Option<Delivery>, CoapError> {
        self.incoming.try_receive(buf)
    }
}

crate::forward::forward_sender!(CoapServer, Sender, |t| &mut t.tx);
crate::forward::forward_receiver!(CoapServer, Receiver, |t| &mut t.rx);

impl Transport for CoapServer {
    type Sender = CoapServerSender;
    type Receiver = CoapServerReceiver;

    fn split(self) -> (CoapServerSender, CoapServerReceiver) {
        (self.tx, self.rx)
    }
}

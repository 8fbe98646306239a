//! The server over TCP and TLS (RFC 8323): `coap+tcp://` and `coaps+tcp://` (rustls, ALPN
//! "coap"). Each connection sends its CSM first, answers Ping, and aborts on a broken frame;
//! its requests reach one task, which serves them as the UDP server does (the same intake,
//! routes and observations). A stream has no CoAP acknowledgement, so `send_acked` follows a
//! notification with a Ping carrying Custody (RFC 8323 §5.4: answer once everything before it
//! is processed) and returns on its Pong; a connection that closes first fails it. Frames for a
//! route nobody observes wait, as over UDP.

use std::collections::HashMap;
use std::net::SocketAddr;

use telemetra_core::Route;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::{Answer, Intake, Op, Pending, Reply, enqueue, route_of};
use crate::coap::driver::error::CoapError;
use crate::coap::observe::{DEREGISTER, REGISTER, Sequence};
use crate::coap::tcp::{Connection, Frame, Received, build, signal};
use crate::coap::{Code, OptionNumber, uint_value};
use crate::dial::Stream;

/// The largest message the server takes: a frame and its options, with room to spare.
const MAX_MESSAGE: usize = 8 * 1024;

/// What a connection tells the server task.
enum Event {
    Opened(u64, SocketAddr, mpsc::UnboundedSender<Vec<u8>>),
    Frame(u64, Vec<u8>),
    Pong(u64, Vec<u8>),
    Closed(u64),
}

/// Accepts TLS connections, when the URL says `coaps+tcp://`.
#[cfg(feature = "tls")]
pub(super) type Acceptor = Option<tokio_rustls::TlsAcceptor>;
#[cfg(not(feature = "tls"))]
pub(super) type Acceptor = Option<std::convert::Infallible>;

/// The TLS acceptor for a server certificate chain and key (PEM).
#[cfg(feature = "tls")]
pub(super) use crate::coap::driver::tls_acceptor as acceptor;

struct Conn {
    peer: SocketAddr,
    out: mpsc::UnboundedSender<Vec<u8>>,
}

pub(super) struct StreamTask {
    pub(super) intake: Intake,
    pub(super) pending_limit: usize,
    conns: HashMap<u64, Conn>,
    /// Who observes each route: connection and token.
    observers: HashMap<Route, Vec<(u64, Vec<u8>)>>,
    pending: HashMap<Route, Pending>,
    sequence: Sequence,
    start: tokio::time::Instant,
    /// `send_acked` callers waiting for the Pong of a custody Ping, per connection in the
    /// order the Pings went.
    custody: HashMap<u64, std::collections::VecDeque<(Vec<u8>, Reply)>>,
    next_ping: u32,
}

impl StreamTask {
    pub(super) fn new(intake: Intake, pending_limit: usize) -> StreamTask {
        StreamTask {
            intake,
            pending_limit,
            conns: HashMap::new(),
            observers: HashMap::new(),
            pending: HashMap::new(),
            sequence: Sequence::starting_at(crate::coap::driver::seed() % (1 << 16)),
            start: tokio::time::Instant::now(),
            custody: HashMap::new(),
            next_ping: 0,
        }
    }

    pub(super) async fn run(mut self, listener: TcpListener, tls: Acceptor, mut ops: mpsc::Receiver<Op>) {
        let (events_tx, mut events) = mpsc::channel(1024);
        let mut next_id = 0u64;
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((tcp, peer)) = accepted else { continue };
                    let _ = tcp.set_nodelay(true);
                    next_id += 1;
                    let (id, events) = (next_id, events_tx.clone());
                    #[cfg_attr(not(feature = "tls"), allow(clippy::clone_on_copy))]
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        #[cfg(feature = "tls")]
                        let io: Box<dyn Stream> = match tls {
                            Some(acceptor) => match acceptor.accept(tcp).await {
                                Ok(stream) => Box::new(stream),
                                Err(e) => return tracing::debug!(%peer, error = %e, "CoAP TLS handshake failed"),
                            },
                            None => Box::new(tcp),
                        };
                        #[cfg(not(feature = "tls"))]
                        let io: Box<dyn Stream> = {
                            let _ = tls;
                            Box::new(tcp)
                        };
                        connection(id, peer, io, events).await;
                    });
                }
                event = events.recv() => match event {
                    Some(Event::Opened(id, peer, out)) => _ = self.conns.insert(id, Conn { peer, out }),
                    Some(Event::Frame(id, bytes)) => self.request(id, &bytes),
                    Some(Event::Pong(id, token)) => self.pong(id, &token),
                    Some(Event::Closed(id)) => self.closed(id),
                    None => {}
                },
                op = ops.recv() => match op {
                    Some(Op::Send { route, payload, reply }) => self.queue(route, payload, reply),
                    Some(Op::Close(done)) => {
                        let _ = done.send(());
                        return;
                    }
                    None => return,
                },
            }
        }
    }

    fn closed(&mut self, id: u64) {
        self.conns.remove(&id);
        for (_, reply) in self.custody.remove(&id).unwrap_or_default() {
            let reason = "the connection closed before the device confirmed".to_string();
            let _ = reply.send(Err(CoapError::Io { op: "connection", reason }));
        }
        for list in self.observers.values_mut() {
            list.retain(|(conn, _)| *conn != id);
        }
    }

    /// Sends connection `id` a frame with `token`: `answer`'s code and options, `payload`.
    fn send(&self, id: u64, token: &[u8], answer: &Answer, payload: &[u8]) {
        let Some(conn) = self.conns.get(&id) else { return };
        let mut buf = vec![0u8; payload.len() + 128];
        match build(&mut buf, answer.code, token, |b| answer.options(b), payload) {
            Ok(bytes) => _ = conn.out.send(bytes.to_vec()),
            Err(e) => tracing::warn!(error = %e, "CoAP frame cannot be built"),
        }
    }

    fn request(&mut self, id: u64, bytes: &[u8]) {
        let Ok(Some((frame, _))) = Frame::parse(bytes, MAX_MESSAGE) else { return };
        let Some(peer) = self.conns.get(&id).map(|c| c.peer) else { return };
        let m = frame.to_message();
        let answer = match route_of(&m) {
            None => Answer::code(Code::NOT_FOUND),
            Some(route) => match m.code {
                Code::POST | Code::PUT => {
                    let now = super::super::super::millis(self.start);
                    self.intake.post(now, peer, route, &m)
                }
                Code::GET => {
                    let observe = m.option(OptionNumber::OBSERVE).and_then(uint_value);
                    let list = self.observers.entry(route).or_default();
                    list.retain(|(conn, token)| !(*conn == id && token.as_slice() == m.token));
                    match observe {
                        Some(REGISTER) => {
                            list.push((id, m.token.to_vec()));
                            Answer { observe: Some(self.sequence.advance()), ..Answer::code(Code::CONTENT) }
                        }
                        Some(DEREGISTER) => Answer::code(Code::CONTENT),
                        _ => match self.intake.retained(route) {
                            Some(frame) => Answer { payload: frame.clone(), ..Answer::code(Code::CONTENT) },
                            None => Answer::code(Code::NOT_FOUND),
                        },
                    }
                }
                _ => Answer::code(Code::METHOD_NOT_ALLOWED),
            },
        };
        self.send(id, m.token, &answer, &answer.payload);
        if answer.observe.is_some()
            && let Some(route) = route_of(&m)
        {
            self.deliver(route);
        }
    }

    fn queue(&mut self, route: Route, payload: Vec<u8>, reply: Option<Reply>) {
        if enqueue(&mut self.pending, self.pending_limit, route, payload, reply) {
            self.deliver(route);
        }
    }

    /// Notifies every frame waiting for `route` to its observers, in order.
    fn deliver(&mut self, route: Route) {
        let observers: Vec<(u64, Vec<u8>)> = self.observers.get(&route).cloned().unwrap_or_default();
        if observers.is_empty() {
            return;
        }
        let waiting = self.pending.remove(&route).unwrap_or_default();
        for (payload, reply) in waiting {
            for (id, token) in &observers {
                let notification =
                    Answer { observe: Some(self.sequence.advance()), ..Answer::code(Code::CONTENT) };
                self.send(*id, token, &notification, &payload);
            }
            if let Some(reply) = reply {
                self.ping_custody(observers[0].0, reply);
            }
        }
    }
}

impl StreamTask {
    /// A Pong on connection `id`: it confirms its Ping and, the stream being ordered, every
    /// Ping before it. A Pong whose token matches none confirms the oldest (libcoap 4.3.1
    /// answers with an empty token, where RFC 8323 §5.4 asks for the Ping's).
    fn pong(&mut self, id: u64, token: &[u8]) {
        let Some(waiting) = self.custody.get_mut(&id).filter(|w| !w.is_empty()) else { return };
        let upto = waiting.iter().position(|(t, _)| t.as_slice() == token).unwrap_or(0);
        for (_, reply) in waiting.drain(..=upto) {
            let _ = reply.send(Ok(()));
        }
    }

    /// Sends connection `id` a Ping with Custody; `reply` learns of its Pong.
    fn ping_custody(&mut self, id: u64, reply: Reply) {
        self.next_ping = self.next_ping.wrapping_add(1);
        let token = self.next_ping.to_be_bytes().to_vec();
        let Some(conn) = self.conns.get(&id) else {
            let _ = reply.send(Err(CoapError::Closed));
            return;
        };
        let mut buf = [0u8; 16];
        match build(&mut buf, Code::PING, &token, |b| b.option(signal::CUSTODY, &[]).map(|_| ()), &[]) {
            Ok(ping) if conn.out.send(ping.to_vec()).is_ok() => {
                self.custody.entry(id).or_default().push_back((token, reply));
            }
            _ => _ = reply.send(Err(CoapError::Closed)),
        }
    }
}

/// One connection: CSM first, frames read and handed to the task, Ping answered, the task's
/// frames written.
async fn connection(id: u64, peer: SocketAddr, io: Box<dyn Stream>, events: mpsc::Sender<Event>) {
    let (mut rd, mut wr) = tokio::io::split(io);
    let (out, mut outgoing) = mpsc::unbounded_channel::<Vec<u8>>();
    if events.send(Event::Opened(id, peer, out)).await.is_err() {
        return;
    }
    let mut signaling = Connection::new(MAX_MESSAGE);
    let mut small = [0u8; 64];
    let mut ok = match signaling.csm(&mut small) {
        Ok(csm) => wr.write_all(csm).await.is_ok(),
        Err(_) => false,
    };
    let (mut inbox, mut buf) = (Vec::new(), vec![0u8; 16 * 1024]);
    while ok {
        tokio::select! {
            frame = outgoing.recv() => match frame {
                Some(bytes) => ok = wr.write_all(&bytes).await.is_ok(),
                None => break,
            },
            r = rd.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    inbox.extend_from_slice(&buf[..n]);
                    let mut at = 0;
                    loop {
                        let (frame, used) = match Frame::parse(&inbox[at..], MAX_MESSAGE) {
                            Ok(Some(found)) => found,
                            Ok(None) => break,
                            Err(e) => {
                                if let Ok(abort) = Connection::abort(&mut small, e.to_string().as_bytes()) {
                                    let _ = wr.write_all(abort).await;
                                }
                                ok = false;
                                break;
                            }
                        };
                        match signaling.on_frame(frame) {
                            Ok(Received::Message(_)) => {
                                if events.send(Event::Frame(id, inbox[at..at + used].to_vec())).await.is_err() {
                                    ok = false;
                                }
                            }
                            Ok(Received::Ping) => {
                                if let Ok(pong) = Connection::pong(&mut small, frame.token) {
                                    ok = wr.write_all(pong).await.is_ok();
                                }
                            }
                            Ok(Received::Pong) => {
                                if events.send(Event::Pong(id, frame.token.to_vec())).await.is_err() {
                                    ok = false;
                                }
                            }
                            Ok(Received::Release { .. } | Received::Abort) => ok = false,
                            Ok(_) => {}
                            Err(v) => {
                                if let Ok(abort) = Connection::abort(&mut small, v.to_string().as_bytes()) {
                                    let _ = wr.write_all(abort).await;
                                }
                                ok = false;
                            }
                        }
                        at += used;
                        if !ok {
                            break;
                        }
                    }
                    inbox.drain(..at);
                }
            },
        }
    }
    let _ = events.send(Event::Closed(id)).await;
}

//! The client task over a stream (RFC 8323): `coap+tcp://` (TCP) and `coaps+tcp://` (TLS by
//! rustls, ALPN "coap"). Each connection starts with this side's CSM; a Ping is answered; a
//! frame that breaks the protocol is answered with an Abort and the connection dropped. A lost
//! connection fails the requests open on it (the caller retries; the device transport's outbox
//! does) and the task connects again, with back-off, while it has work or handles.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::CoapError;
use super::client::{Op, SLOTS};
use super::exchange::{Engine, Exchanges};
use crate::coap::client::{RequestError, Token};
use crate::coap::tcp::{Connection, Frame, StreamClient, StreamEvent};
use crate::coap::{BuildError, Builder, Code, Type};

/// The largest message this side takes: a 64 KiB body and its options.
pub(super) const MAX_MESSAGE: usize = 65 * 1024;

/// Default ports: 5683 for `coap+tcp://`, 5684 for `coaps+tcp://` (RFC 8323 §8.2).
pub(super) const TCP_PORT: u16 = 5683;
/// See [`TCP_PORT`].
pub(super) const TLS_PORT: u16 = 5684;

/// How to reach the server.
pub(super) type Target = crate::dial::Dialer;

/// The stream client core, and the bytes it has for the stream.
pub(super) struct Stream {
    core: Option<StreamClient<SLOTS>>,
    out: Vec<u8>,
    scratch: Vec<u8>,
}

impl Stream {
    pub(super) fn new() -> Stream {
        Stream { core: None, out: Vec::new(), scratch: vec![0; MAX_MESSAGE] }
    }
}

impl Engine for Stream {
    fn request(
        &mut self,
        _now: u64,
        _ty: Type,
        code: Code,
        observe: bool,
        options: impl FnOnce(&mut Builder<'_>) -> Result<(), BuildError>,
        payload: &[u8],
    ) -> Result<Token, RequestError> {
        // No connection: the request waits for the next one.
        let core = self.core.as_mut().ok_or(RequestError::Busy)?;
        let (token, bytes) = match observe {
            true => core.observe_with(&mut self.scratch, code, options, payload)?,
            false => core.request(&mut self.scratch, code, options, payload)?,
        };
        self.out.extend_from_slice(bytes);
        Ok(token)
    }

    fn cancel(
        &mut self,
        _now: u64,
        token: Token,
        _ty: Type,
        options: impl FnOnce(&mut Builder<'_>) -> Result<(), BuildError>,
    ) {
        let Some(core) = self.core.as_mut() else { return };
        match core.cancel(&mut self.scratch, token, options) {
            Ok(Some(bytes)) => self.out.extend_from_slice(bytes),
            _ => _ = core.forget(token),
        }
    }

    fn outstanding(&self) -> usize {
        self.core.as_ref().map_or(SLOTS, StreamClient::outstanding)
    }

    fn capacity(&self) -> usize {
        SLOTS
    }
}

/// Why a connection ended.
enum End {
    /// Every handle is gone and nothing is open.
    Done,
    /// The connection failed or the server closed it.
    Lost(String),
}

/// Runs the client: connects, serves the connection, and connects again while there is work.
pub(super) async fn run(mut x: Exchanges<Stream>, target: Target, mut ops: mpsc::Receiver<Op>) {
    let mut open = true;
    let mut delay = Duration::from_millis(200);
    loop {
        if !open && x.idle() {
            return;
        }
        let io = match tokio::time::timeout(Duration::from_secs(10), target.open()).await {
            Ok(Ok(io)) => io,
            Ok(Err(e)) => {
                fail_waiting(&mut x, &format!("connect: {e}"));
                wait(&mut x, &mut ops, &mut open, delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
                continue;
            }
            Err(_) => {
                fail_waiting(&mut x, "connect: timed out");
                wait(&mut x, &mut ops, &mut open, delay).await;
                continue;
            }
        };
        delay = Duration::from_millis(200);
        let seed = super::seed();
        x.engine.core = Some(StreamClient::new(MAX_MESSAGE, seed));
        let end = serve(&mut x, io, &mut ops, &mut open).await;
        x.engine.core = None;
        x.engine.out.clear();
        match end {
            End::Done => return,
            End::Lost(why) => {
                tracing::debug!(reason = %why, "CoAP stream lost");
                x.end_all(&CoapError::Io { op: "connection", reason: why });
            }
        }
    }
}

/// Fails the requests that waited for a connection that could not be made (their callers
/// retry as they see fit; the device transport's outbox does).
fn fail_waiting(x: &mut Exchanges<Stream>, why: &str) {
    tracing::debug!(reason = why, "CoAP stream: no connection");
    x.end_waiting(&CoapError::Io { op: "connect", reason: why.to_string() });
}

/// Waits `delay`, taking operations meanwhile (they queue until a connection is up).
async fn wait(x: &mut Exchanges<Stream>, ops: &mut mpsc::Receiver<Op>, open: &mut bool, delay: Duration) {
    let until = tokio::time::Instant::now() + delay;
    loop {
        tokio::select! {
            op = ops.recv(), if *open => match op {
                Some(op) => x.take(op),
                None => *open = false,
            },
            () = tokio::time::sleep_until(until) => return,
        }
    }
}

async fn serve(
    x: &mut Exchanges<Stream>,
    io: Box<dyn crate::dial::Stream>,
    ops: &mut mpsc::Receiver<Op>,
    open: &mut bool,
) -> End {
    let (mut rd, mut wr) = tokio::io::split(io);
    let mut buf = vec![0u8; 16 * 1024];
    let mut inbox: Vec<u8> = Vec::new();
    if let Some(core) = &x.engine.core
        && let Ok(csm) = core.csm(&mut x.engine.scratch)
    {
        x.engine.out.splice(0..0, csm.iter().copied());
    }
    // What waited for the connection goes now.
    x.resume();
    loop {
        if !x.engine.out.is_empty() {
            if let Err(e) = wr.write_all(&x.engine.out).await {
                return End::Lost(e.to_string());
            }
            x.engine.out.clear();
        }
        x.publish_stats(|s| s.ignored = x.engine.core.as_ref().map_or(0, StreamClient::unmatched));
        if !*open && x.idle() {
            let _ = wr.shutdown().await;
            return End::Done;
        }
        tokio::select! {
            op = ops.recv(), if *open => match op {
                Some(op) => x.take(op),
                None => *open = false,
            },
            r = rd.read(&mut buf) => match r {
                Ok(0) => return End::Lost("closed by the server".into()),
                Ok(n) => {
                    inbox.extend_from_slice(&buf[..n]);
                    if let Err(why) = frames(x, &mut inbox) {
                        let mut abort = [0u8; 128];
                        if let Ok(bytes) = Connection::abort(&mut abort, why.as_bytes()) {
                            let _ = wr.write_all(bytes).await;
                        }
                        return End::Lost(why);
                    }
                }
                Err(e) => return End::Lost(e.to_string()),
            },
        }
    }
}

/// Handles every whole frame at the front of `inbox` (and drops them from it); an error says
/// why the connection must end.
fn frames(x: &mut Exchanges<Stream>, inbox: &mut Vec<u8>) -> Result<(), String> {
    let mut at = 0;
    let result = loop {
        let Some(core) = x.engine.core.as_mut() else { break Ok(()) };
        let max = core.connection().max_message_size();
        let (frame, used) = match Frame::parse(&inbox[at..], max) {
            Ok(Some(found)) => found,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e.to_string()),
        };
        at += used;
        match core.on_frame(frame) {
            Ok(StreamEvent::Response { token, frame }) => x.response(token, &frame.to_message()),
            Ok(StreamEvent::Notification { token, frame }) => x.notification(token, &frame.to_message()),
            Ok(StreamEvent::Ping(token)) => {
                let mut pong = [0u8; 16];
                if let Ok(bytes) = Connection::pong(&mut pong, token) {
                    x.engine.out.extend_from_slice(bytes);
                }
            }
            Ok(StreamEvent::Nothing) => {}
            Ok(StreamEvent::Release { .. }) => break Err("released by the server".into()),
            Ok(StreamEvent::Abort) => break Err("aborted by the server".into()),
            Err(v) => break Err(v.to_string()),
        }
        x.resume();
    };
    inbox.drain(..at);
    result
}

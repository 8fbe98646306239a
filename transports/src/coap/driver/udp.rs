//! The client task over UDP (`coap://`): the sans-IO [`Client`] with its message layer
//! (retransmission, deduplication, RST) under the exchanges.

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::CoapError;
use super::client::{Op, SLOTS};
use super::exchange::{Engine, Exchanges};
use crate::coap::client::{Client, Event, RequestError, Token};
use crate::coap::{BuildError, Builder, Code, Type};

/// The largest message kept for retransmission.
const MESSAGE: usize = 1280;

/// The UDP client core.
pub(super) struct Udp(pub(super) Box<Client<SLOTS, MESSAGE>>);

impl Engine for Udp {
    fn request(
        &mut self,
        now: u64,
        ty: Type,
        code: Code,
        observe: bool,
        options: impl FnOnce(&mut Builder<'_>) -> Result<(), BuildError>,
        payload: &[u8],
    ) -> Result<Token, RequestError> {
        match observe {
            true => self.0.observe_with(now, ty, code, options, payload),
            false => self.0.request(now, ty, code, options, payload),
        }
    }

    fn cancel(
        &mut self,
        now: u64,
        token: Token,
        ty: Type,
        options: impl FnOnce(&mut Builder<'_>) -> Result<(), BuildError>,
    ) {
        if !matches!(self.0.cancel(now, token, ty, options), Ok(true)) {
            // No room for the GET: its next notification is answered RST instead.
            self.0.forget(token);
        }
    }

    fn outstanding(&self) -> usize {
        self.0.outstanding()
    }

    fn capacity(&self) -> usize {
        SLOTS
    }
}

/// Runs the client over `socket` (connected to the server) until every handle is gone and
/// nothing is open.
pub(super) async fn run(mut x: Exchanges<Udp>, socket: UdpSocket, mut ops: mpsc::Receiver<Op>) {
    let mut buf = vec![0u8; 2048];
    let mut open = true;
    loop {
        let now = x.now();
        while let Some(d) = x.engine.0.poll_transmit(now) {
            if let Err(e) = socket.send(d).await {
                tracing::debug!(error = %e, "CoAP datagram not sent");
            }
        }
        let core = x.engine.0.stats();
        x.publish_stats(|s| {
            s.retransmissions = core.retransmissions;
            s.duplicates = core.duplicates;
            s.ignored = core.ignored;
            s.stale = core.stale;
        });
        if !open && x.idle() {
            return;
        }
        let deadline = x.engine.0.next_timeout().map(|t| x.instant(t));
        tokio::select! {
            op = ops.recv(), if open => match op {
                Some(op) => x.take(op),
                None => open = false,
            },
            r = socket.recv(&mut buf) => match r {
                Ok(n) => datagram(&mut x, &buf[..n]),
                // An ICMP port unreachable from a server not (yet) there: retransmission
                // covers it.
                Err(e) => tracing::debug!(error = %e, "CoAP receive"),
            },
            () = super::sleep_until(deadline), if deadline.is_some() => timeout(&mut x),
        }
    }
}

fn datagram(x: &mut Exchanges<Udp>, bytes: &[u8]) {
    let now = x.now();
    match x.engine.0.handle_datagram(now, bytes) {
        Some(Event::Response { token, message }) => x.response(token, &message),
        Some(Event::Notification { token, message }) => x.notification(token, &message),
        Some(Event::Reset(token)) => x.end(token, CoapError::Reset),
        Some(Event::TimedOut(token)) => x.end(token, CoapError::TimedOut),
        None => {}
    }
    x.resume();
}

fn timeout(x: &mut Exchanges<Udp>) {
    let now = x.now();
    while let Some(event) = x.engine.0.handle_timeout(now) {
        match event {
            Event::TimedOut(token) => x.end(token, CoapError::TimedOut),
            Event::Reset(token) => x.end(token, CoapError::Reset),
            _ => {}
        }
    }
    x.resume();
}

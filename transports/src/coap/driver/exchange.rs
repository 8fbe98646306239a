//! What a client task does whatever carries its messages: requests run to completion (Block1
//! uploads, Block2 downloads with an unchanging ETag), observations kept open, requests queued
//! while the core is full. An [`Engine`] is the core underneath: the UDP client with its
//! message layer, or a stream client (TCP, TLS).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::CoapError;
use super::client::{ClientConfig, ClientStats, Op, Reply, Request, Response};
use crate::coap::block::Block;
use crate::coap::block::transfer::{Download, Progress, TransferError, Upload};
use crate::coap::client::{RequestError, Token};
use crate::coap::server::block2_of;
use crate::coap::{BuildError, Builder, Code, Message, OptionNumber, Type};

/// The protocol core a client task drives.
pub(super) trait Engine {
    /// Starts a request (`observe`: a GET with Observe 0); `Busy` while the core is full.
    fn request(
        &mut self,
        now: u64,
        ty: Type,
        code: Code,
        observe: bool,
        options: impl FnOnce(&mut Builder<'_>) -> Result<(), BuildError>,
        payload: &[u8],
    ) -> Result<Token, RequestError>;

    /// Ends an observation, on the server too if it can (a GET with Observe 1).
    fn cancel(
        &mut self,
        now: u64,
        token: Token,
        ty: Type,
        options: impl FnOnce(&mut Builder<'_>) -> Result<(), BuildError>,
    );

    /// Requests open in the core.
    fn outstanding(&self) -> usize;

    /// Requests the core holds at most.
    fn capacity(&self) -> usize;
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
    /// What binds the response of the message last sent (OSCORE).
    #[cfg(feature = "oscore")]
    binding: Option<crate::coap::oscore::Binding>,
    /// The Echo value the server asked this request to carry (RFC 9175), after a 4.01.
    #[cfg(feature = "oscore")]
    echo: Option<Vec<u8>>,
}

impl Exchange {
    fn finish(mut self, result: Result<Response, CoapError>) {
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(result);
        }
    }
}

/// The exchanges of one client task over its engine.
pub(super) struct Exchanges<E> {
    pub(super) engine: E,
    config: ClientConfig,
    live: HashMap<Token, Exchange>,
    waiting: VecDeque<Exchange>,
    start: tokio::time::Instant,
    pub(super) stats: Arc<Mutex<ClientStats>>,
    first_sends: u64,
    /// Every request protected with this context (OSCORE).
    #[cfg(feature = "oscore")]
    oscore: Option<crate::coap::oscore::SecurityContext>,
    /// Where its sequence number is kept.
    #[cfg(feature = "oscore")]
    oscore_sequence: Option<super::SequenceFile>,
}

impl<E: Engine> Exchanges<E> {
    #[cfg_attr(not(feature = "oscore"), allow(unused_mut))]
    pub(super) fn new(engine: E, mut config: ClientConfig, stats: Arc<Mutex<ClientStats>>) -> Self {
        #[cfg(feature = "oscore")]
        let (oscore, oscore_sequence) = (config.oscore.take(), config.oscore_sequence.take());
        Exchanges {
            engine,
            #[cfg(feature = "oscore")]
            oscore,
            #[cfg(feature = "oscore")]
            oscore_sequence,
            config,
            live: HashMap::new(),
            waiting: VecDeque::new(),
            start: tokio::time::Instant::now(),
            stats,
            first_sends: 0,
        }
    }

    /// The core's clock: milliseconds since the task started.
    pub(super) fn now(&self) -> u64 {
        super::millis(self.start)
    }

    /// When the core's time `t` falls.
    pub(super) fn instant(&self, t: u64) -> tokio::time::Instant {
        crate::clock::instant(self.start, t)
    }

    /// Nothing open, nothing waiting.
    pub(super) fn idle(&self) -> bool {
        self.live.is_empty() && self.waiting.is_empty()
    }

    /// Updates the shared counters with `f`, and the messages sent.
    pub(super) fn publish_stats(&self, f: impl FnOnce(&mut ClientStats)) {
        let mut s = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        s.requests = self.first_sends;
        f(&mut s);
    }

    /// Takes an operation from a handle.
    pub(super) fn take(&mut self, op: Op) {
        let (req, reply, notes) = match op {
            Op::Request { req, reply } => (req, reply, None),
            Op::Observe { req, reply, notes } => (req, reply, Some(notes)),
            Op::Sweep => return self.cancel_closed(),
        };
        let upload = (req.payload.len() > self.config.max_unsplit)
            .then(|| Upload::new(req.payload.len(), self.config.block_size).ok())
            .flatten();
        let ex = Exchange {
            req,
            upload,
            download: None,
            etag: None,
            body: Vec::new(),
            reply: Some(reply),
            notes,
            #[cfg(feature = "oscore")]
            binding: None,
            #[cfg(feature = "oscore")]
            echo: None,
        };
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
        let now = self.now();
        for token in gone {
            let Some(ex) = self.live.remove(&token) else { continue };
            self.engine.cancel(now, token, ex.req.ty(), |b| ex.req.options(b, None, None));
        }
    }

    /// Sends the exchange's next message (or queues it while the core is full).
    #[cfg_attr(not(feature = "oscore"), allow(unused_mut))]
    fn issue(&mut self, mut ex: Exchange) {
        if self.engine.outstanding() >= self.engine.capacity() {
            // Nothing built (and no OSCORE sequence number spent) for a request that must wait.
            return self.waiting.push_back(ex);
        }
        let now = self.now();
        let req = &ex.req;
        let ty = req.ty();
        // This step's method, Observe registration, Block options and payload.
        let (code, observe, block2, block1, payload) = if let Some(up) = &ex.upload {
            let (block, range) = up.block();
            (req.method, false, None, Some(block), &req.payload[range])
        } else if let Some(down) = &ex.download {
            (req.method, false, Some(down.next()), None, &[][..])
        } else if ex.notes.is_some() {
            (Code::GET, true, None, None, &[][..])
        } else {
            let early = (self.config.block_size < 1024)
                .then(|| Block::new(0, false, self.config.block_size).ok())
                .flatten()
                .filter(|_| req.method == Code::GET);
            (req.method, false, early, None, &req.payload[..])
        };
        #[cfg(feature = "oscore")]
        if let Some(ctx) = self.oscore.as_mut() {
            if let Some(file) = &self.oscore_sequence
                && let Err(e) = file.persist(ctx)
            {
                return ex.finish(Err(CoapError::io("OSCORE sequence file", &e)));
            }
            let step = Step { code, observe, block2, block1, payload, echo: ex.echo.as_deref() };
            let protected = protect(ctx, req, &step);
            let (wire, binding) = match protected {
                Ok(p) => p,
                Err(e) => return ex.finish(Err(e)),
            };
            let Ok(outer) = Message::parse(&wire) else {
                return ex.finish(Err(CoapError::Build("the protected request does not parse".into())));
            };
            // The engine adds Observe itself for a registration: the outer copy is left out.
            let outer_options = outer.options().filter(|(n, _)| !observe || *n != OptionNumber::OBSERVE);
            let result = self.engine.request(
                now,
                ty,
                outer.code,
                observe,
                |b| outer_options.into_iter().try_for_each(|(n, v)| b.option(n, v).map(|_| ())),
                outer.payload,
            );
            ex.binding = Some(binding);
            return self.started(ex, result);
        }
        let result = self.engine.request(now, ty, code, observe, |b| req.options(b, block2, block1), payload);
        self.started(ex, result)
    }

    fn started(&mut self, ex: Exchange, result: Result<Token, RequestError>) {
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
    pub(super) fn resume(&mut self) {
        while self.engine.outstanding() < self.engine.capacity() {
            let Some(ex) = self.waiting.pop_front() else { return };
            self.issue(ex);
        }
    }

    /// A notification of the observation `token`.
    pub(super) fn notification(&mut self, token: Token, m: &Message<'_>) {
        #[cfg(feature = "oscore")]
        let mut space = Vec::new();
        #[cfg(feature = "oscore")]
        let m = &match self.unprotect(token, m, &mut space) {
            Ok(inner) => inner,
            Err(e) => return tracing::debug!(error = %e, "OSCORE notification dropped"),
        };
        let dropped = match self.live.get(&token).and_then(|ex| ex.notes.as_ref()) {
            Some(notes) => notes.try_send(Response::of(m)).is_err(),
            None => false,
        };
        if dropped {
            self.stats.lock().unwrap_or_else(|p| p.into_inner()).notifications_dropped += 1;
        }
    }

    /// The request `token` failed.
    pub(super) fn end(&mut self, token: Token, error: CoapError) {
        if let Some(ex) = self.live.remove(&token) {
            ex.finish(Err(error));
        }
    }

    /// Every request waiting for room failed (no connection could be made for it).
    pub(super) fn end_waiting(&mut self, error: &CoapError) {
        for ex in self.waiting.drain(..) {
            ex.finish(Err(error.clone()));
        }
    }

    /// Every open request failed (the connection is gone); what waits stays queued.
    pub(super) fn end_all(&mut self, error: &CoapError) {
        for (_, ex) in self.live.drain() {
            ex.finish(Err(error.clone()));
        }
    }

    /// The response to the request `token`.
    pub(super) fn response(&mut self, token: Token, m: &Message<'_>) {
        #[cfg(feature = "oscore")]
        let mut space = Vec::new();
        #[cfg(feature = "oscore")]
        let m = &match self.unprotect(token, m, &mut space) {
            Ok(inner) => inner,
            Err(e) => return self.end(token, e),
        };
        // A response nothing waits for (the answer to a cancellation) ends here.
        let Some(mut ex) = self.live.remove(&token) else { return };
        #[cfg(feature = "oscore")]
        if m.code == Code::UNAUTHORIZED
            && ex.binding.is_some()
            && ex.echo.is_none()
            && let Some(echo) = m.option(OptionNumber::ECHO)
        {
            // The server restarted and is recovering its replay window (RFC 8613 Appendix
            // B.1.2): the same step again, protected anew, with the Echo value it gave.
            tracing::debug!("OSCORE Echo challenge answered");
            ex.echo = Some(echo.to_vec());
            return self.issue(ex);
        }
        if let Some(up) = &mut ex.upload {
            let block1 = m.option(OptionNumber::BLOCK1).and_then(|v| Block::decode(v).ok());
            match up.on_response(m.code, block1) {
                Ok(Progress::Next) => return self.issue(ex),
                Ok(Progress::Finished) => ex.upload = None,
                Err(TransferError::Refused(_)) => return ex.finish(Ok(Response::of(m))),
                Err(e) => return ex.finish(Err(e.into())),
            }
        }
        if m.option(OptionNumber::BLOCK2).is_some() && block2_of(m).is_none() {
            // A Block2 option that cannot be read (BERT's SZX 7): never a body cut short.
            return ex.finish(Err(TransferError::Mismatch.into()));
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

    /// The inner message of `m`, a response to the OSCORE-protected request `token` (`m`
    /// itself without OSCORE). An unprotected answer to a protected request is taken as it is
    /// only when it is an error (4.01 from a server without the context, say).
    #[cfg(feature = "oscore")]
    fn unprotect<'s>(
        &mut self,
        token: Token,
        m: &Message<'s>,
        space: &'s mut Vec<u8>,
    ) -> Result<Message<'s>, CoapError> {
        let binding = self.live.get(&token).and_then(|ex| ex.binding.clone());
        let (Some(ctx), Some(binding)) = (self.oscore.as_mut(), binding) else { return Ok(*m) };
        if m.option(OptionNumber::OSCORE).is_none() {
            return match m.code.class() {
                4 | 5 => Ok(*m),
                _ => Err(CoapError::Oscore(crate::coap::oscore::OscoreError::NotProtected)),
            };
        }
        space.resize(2 * (m.payload.len() + 512), 0);
        let inner =
            crate::coap::oscore::unprotect_response(ctx, &binding, m, space).map_err(CoapError::Oscore)?;
        Message::parse(inner).map_err(|_| CoapError::Oscore(crate::coap::oscore::OscoreError::BadPlaintext))
    }
}

/// One step of a request: its method, Observe 0 for a registration, its Block options, its
/// payload, and the Echo value it must carry.
#[cfg(feature = "oscore")]
struct Step<'a> {
    code: Code,
    observe: bool,
    block2: Option<Block>,
    block1: Option<Block>,
    payload: &'a [u8],
    echo: Option<&'a [u8]>,
}

/// The protected form of one step of `req` (its inner message: the step's method and
/// options among the request's, and its payload).
#[cfg(feature = "oscore")]
fn protect(
    ctx: &mut crate::coap::oscore::SecurityContext,
    req: &Request,
    step: &Step<'_>,
) -> Result<(Vec<u8>, crate::coap::oscore::Binding), CoapError> {
    let build = |e: BuildError| CoapError::Build(e.to_string());
    let mut plain = vec![0u8; step.payload.len() + 512];
    let len = {
        let mut b = Builder::new(&mut plain, req.ty(), step.code, 0, &[]).map_err(build)?;
        if step.observe {
            b.uint_option(OptionNumber::OBSERVE, 0).map_err(build)?;
        }
        req.options(&mut b, step.block2, step.block1).map_err(build)?;
        if let Some(echo) = step.echo {
            b.option(OptionNumber::ECHO, echo).map_err(build)?;
        }
        b.payload(step.payload).map_err(build)?.len()
    };
    let plain = Message::parse(&plain[..len]).map_err(|e| CoapError::Build(e.to_string()))?;
    let mut wire = vec![0u8; 2 * (len + 64)];
    let (bytes, binding) =
        crate::coap::oscore::protect_request(ctx, &plain, &mut wire).map_err(CoapError::Oscore)?;
    Ok((bytes.to_vec(), binding))
}

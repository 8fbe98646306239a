//! OSCORE on the serving side (RFC 8613): with contexts configured, the server takes only
//! requests protected by a known device's context, answers them protected, and notifies each
//! observer with a notification protected for it (its own Partial IV, bound to its
//! registration). A plain request is answered 4.01; a replay 4.01; one that does not
//! authenticate 4.00 (unprotected: the sender has no context the server shares).

use std::net::SocketAddr;

use tokio::net::UdpSocket;

use super::{Task, send};
use crate::coap::oscore::{self, OscoreError, SecurityContext};
use crate::coap::server::Request;
use crate::coap::{Builder, Code, Message, OptionNumber, Type};

/// What binds an observer's notifications: its context and its registration.
pub(super) type Bound = (usize, oscore::Binding);

impl Task {
    /// Answers `request` with `code` and a diagnostic, unprotected.
    async fn refuse(
        &mut self,
        socket: &UdpSocket,
        now: u64,
        request: &Request<'_, SocketAddr>,
        code: Code,
        why: &str,
    ) {
        match self.core.respond(now, request, code, |_| Ok(()), why.as_bytes()) {
            Ok(bytes) => send(socket, request.peer, bytes).await,
            Err(e) => tracing::warn!(error = %e, "CoAP response cannot be built"),
        }
    }

    /// A request while OSCORE contexts are configured.
    pub(super) async fn protected(&mut self, socket: &UdpSocket, now: u64, request: Request<'_, SocketAddr>) {
        let context = match oscore::kid_of(&request.message) {
            Ok(Some(kid)) => self.contexts.iter().position(|c| c.recipient_id() == kid),
            Ok(None) => {
                return self.refuse(socket, now, &request, Code::UNAUTHORIZED, "OSCORE required").await;
            }
            Err(_) => return self.refuse(socket, now, &request, Code::BAD_OPTION, "bad OSCORE option").await,
        };
        let Some(i) = context else {
            return self
                .refuse(socket, now, &request, Code::UNAUTHORIZED, "Security context not found")
                .await;
        };
        let mut space = vec![0u8; 2 * (request.message.payload.len() + 512)];
        let (inner, binding) =
            match oscore::unprotect_request(&mut self.contexts[i], &request.message, &mut space) {
                Ok(found) => found,
                Err(OscoreError::Replay) => {
                    return self.refuse(socket, now, &request, Code::UNAUTHORIZED, "Replay detected").await;
                }
                Err(OscoreError::FreshnessUnknown) => return self.challenge(socket, now, &request, i).await,
                Err(e) => {
                    tracing::debug!(peer = %request.peer, error = %e, "OSCORE request refused");
                    return self.refuse(socket, now, &request, Code::BAD_REQUEST, "Decryption failed").await;
                }
            };
        let Ok(inner) = Message::parse(inner) else {
            return self.refuse(socket, now, &request, Code::BAD_REQUEST, "Decryption failed").await;
        };
        let inner_request = Request { peer: request.peer, message: inner };
        let answer = self.handle(now, &inner_request);
        if answer.observe.is_some() {
            self.bound.insert((request.peer, inner.token.to_vec()), (i, binding.clone()));
        }
        let mut plain = vec![0u8; answer.payload.len() + 128];
        let built = Builder::new(&mut plain, Type::Ack, answer.code, 0, inner.token)
            .and_then(|mut b| {
                answer.options(&mut b)?;
                b.payload(&answer.payload).map(<[u8]>::len)
            })
            .ok()
            .and_then(|len| Message::parse(&plain[..len]).ok());
        let Some(plain) = built else { return tracing::warn!("CoAP response cannot be built") };
        let mut wire = vec![0u8; 2 * (answer.payload.len() + 256)];
        let Ok(outer) = oscore::protect_response(&mut self.contexts[i], &binding, &plain, &mut wire) else {
            return tracing::warn!("OSCORE response cannot be protected");
        };
        let Ok(outer) = Message::parse(outer) else { return };
        self.answer(socket, now, &request, &outer).await;
        if answer.observe.is_some() {
            self.deliver_all();
        }
    }

    /// Answers a request that authenticated while its context's replay window is being
    /// recovered: a protected 4.01 with the Echo value it must come back with.
    async fn challenge(&mut self, socket: &UdpSocket, now: u64, request: &Request<'_, SocketAddr>, i: usize) {
        let mut wire = [0u8; 128];
        let Ok(outer) = oscore::echo_challenge(&mut self.contexts[i], &request.message, &mut wire) else {
            return tracing::warn!("OSCORE Echo challenge cannot be protected");
        };
        let Ok(outer) = Message::parse(outer) else { return };
        tracing::debug!(peer = %request.peer, "OSCORE replay window recovery: Echo challenge");
        self.answer(socket, now, request, &outer).await;
    }

    /// Answers `request` with the protected message `outer` (its code, options and payload).
    async fn answer(
        &mut self,
        socket: &UdpSocket,
        now: u64,
        request: &Request<'_, SocketAddr>,
        outer: &Message<'_>,
    ) {
        let reply = self.core.respond(
            now,
            request,
            outer.code,
            |b| outer.options().try_for_each(|(n, v)| b.option(n, v).map(|_| ())),
            outer.payload,
        );
        match reply {
            Ok(bytes) => send(socket, request.peer, bytes).await,
            Err(e) => tracing::warn!(error = %e, "CoAP response cannot be built"),
        }
    }

    /// Notifies every observer of `resource` of `payload`, each protected for it, confirmable.
    /// Returns each notification's peer and Message ID.
    pub(super) fn notify_protected(&mut self, resource: u32, payload: &[u8]) -> Vec<(SocketAddr, u16)> {
        let observers: Vec<(SocketAddr, Vec<u8>)> =
            self.core.observers(resource).map(|(p, t)| (p, t.to_vec())).collect();
        let mut sent = Vec::new();
        for (peer, token) in observers {
            let Some((i, binding)) = self.bound.get(&(peer, token.clone())).cloned() else {
                // Registered without protection: not possible while contexts are configured.
                self.core.forget(peer, &token);
                continue;
            };
            match self.protected_notification(i, &binding, peer, &token, payload) {
                Some(id) => sent.push((peer, id)),
                None => tracing::debug!(%peer, "OSCORE notification not sent now (no room)"),
            }
        }
        sent
    }

    fn protected_notification(
        &mut self,
        i: usize,
        binding: &oscore::Binding,
        peer: SocketAddr,
        token: &[u8],
        payload: &[u8],
    ) -> Option<u16> {
        let observe = self.core.next_observe();
        let mut plain = vec![0u8; payload.len() + 64];
        let len = {
            let mut b = Builder::new(&mut plain, Type::Con, Code::CONTENT, 0, token).ok()?;
            b.uint_option(OptionNumber::OBSERVE, observe).ok()?;
            b.payload(payload).ok()?.len()
        };
        let plain = Message::parse(&plain[..len]).ok()?;
        let mut wire = vec![0u8; 2 * (payload.len() + 256)];
        let outer = oscore::protect_response(&mut self.contexts[i], binding, &plain, &mut wire).ok()?;
        let outer = Message::parse(outer).ok()?;
        let (now, random) = (self.now(), self.next_random());
        let (id, bytes) = self
            .core
            .respond_later(
                now,
                peer,
                token,
                outer.code,
                |b| outer.options().try_for_each(|(n, v)| b.option(n, v).map(|_| ())),
                outer.payload,
                random,
            )
            .ok()?;
        self.outbox.push((peer, bytes.to_vec()));
        self.notified.insert((peer, id), token.to_vec());
        Some(id)
    }

    /// A protected notification that will never be acknowledged: its observer is gone.
    pub(super) fn observer_gone(&mut self, peer: SocketAddr, message_id: u16) {
        if let Some(token) = self.notified.remove(&(peer, message_id)) {
            self.core.forget(peer, &token);
            self.bound.remove(&(peer, token));
        }
    }
}

/// The contexts of a server configuration, each recovering its replay window (the server
/// has just started and keeps none).
pub(super) fn contexts(config: &mut super::ServerConfig) -> Vec<SecurityContext> {
    let mut contexts = std::mem::take(&mut config.oscore);
    for c in &mut contexts {
        c.recover_replay_window(crate::random::unpredictable());
    }
    contexts
}

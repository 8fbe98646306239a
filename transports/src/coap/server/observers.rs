//! Observers (RFC 7641 on the serving side): registration by a GET with Observe 0,
//! deregistration by Observe 1, notifications to every observer of a resource (NON, and CON at
//! least every 24 hours to learn whether the client is still there), and cancellation by an
//! RST or an unacknowledged confirmable notification.

use telemetra_core::heapless;

use super::{Request, Server};
use crate::coap::code::Code;
use crate::coap::message::{BuildError, Builder, MAX_TOKEN, Type};
use crate::coap::observe::{CONFIRMABLE_AT_LEAST_EVERY_MS, DEREGISTER, REGISTER};
use crate::coap::option::{OptionNumber, uint_value};

/// One observation: who, by which token, of which resource (the application's number).
#[derive(Debug, Clone)]
pub(super) struct Observer<P> {
    peer: P,
    token: heapless::Vec<u8, MAX_TOKEN>,
    resource: u32,
    /// The Message ID of the last notification (an RST to it cancels).
    last_message_id: Option<u16>,
    /// When the last confirmable notification (or the registration) was.
    confirmed_at: u64,
}

impl<P: Copy + Eq, const N: usize, const M: usize, const O: usize, const K: usize> Server<P, N, M, O, K> {
    /// Handles the Observe option of `request` for `resource`: a GET with Observe 0 registers
    /// its peer and token (again: the same observation) and returns the Observe value to put
    /// in the response; Observe 1 deregisters. `None`: not observed (no option, not a GET,
    /// deregistered, or `K` observers already) — the response then carries no Observe option.
    pub fn observe(&mut self, now: u64, request: &Request<'_, P>, resource: u32) -> Option<u32> {
        let m = &request.message;
        if m.code != Code::GET {
            return None;
        }
        let value = uint_value(m.option(OptionNumber::OBSERVE)?)?;
        let at = self.observers.iter().position(|o| o.peer == request.peer && o.token == m.token);
        match (value, at) {
            (REGISTER, Some(i)) => self.observers[i].resource = resource,
            (REGISTER, None) => {
                let token = heapless::Vec::from_slice(m.token).ok()?;
                let o = Observer {
                    peer: request.peer,
                    token,
                    resource,
                    last_message_id: None,
                    confirmed_at: now,
                };
                self.observers.push(o).ok()?;
            }
            (DEREGISTER, Some(i)) => {
                self.observers.swap_remove(i);
                return None;
            }
            _ => return None,
        }
        Some(self.sequence.advance())
    }

    /// How many observe `resource`.
    pub fn observers_of(&self, resource: u32) -> usize {
        self.observers.iter().filter(|o| o.resource == resource).count()
    }

    /// Who observes `resource`, and by which token: for notifications the application builds
    /// itself (an OSCORE-protected one for each observer, say; see [`Server::next_observe`]).
    pub fn observers(&self, resource: u32) -> impl Iterator<Item = (P, &[u8])> {
        self.observers.iter().filter(move |o| o.resource == resource).map(|o| (o.peer, o.token.as_slice()))
    }

    /// The next Observe number, for a notification the application builds itself.
    pub fn next_observe(&mut self) -> u32 {
        self.sequence.advance()
    }

    /// Forgets the observation of `peer` by `token`; whether there was one.
    pub fn forget(&mut self, peer: P, token: &[u8]) -> bool {
        match self.observers.iter().position(|o| o.peer == peer && o.token == token) {
            Some(i) => {
                self.observers.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Notifies every observer of `resource` of its new state: `code`, the Observe number, the
    /// options `options` adds (numbers above 6, Observe's), `payload`. Non-confirmable, except
    /// one a day per observer (and when no retransmission slot is free for it, non-confirmable
    /// after all); `random` draws the first timeout of a confirmable one. Returns how many
    /// were notified; the datagrams come out of [`Server::poll_transmit`].
    #[allow(clippy::too_many_arguments)]
    pub fn notify(
        &mut self,
        now: u64,
        resource: u32,
        code: Code,
        options: impl Fn(&mut Builder<'_>) -> Result<(), BuildError>,
        payload: &[u8],
        random: u32,
    ) -> Result<usize, BuildError> {
        self.notify_each(now, resource, false, code, options, payload, random, |_, _| {})
    }

    /// Like [`Server::notify`], but every notification is confirmable (a state each observer
    /// must see, such as a command): `sent` learns each observer and its notification's
    /// Message ID, which [`Incoming::Acknowledged`](super::Incoming::Acknowledged) names when
    /// it arrives. An observer for whom no retransmission slot is free is skipped (not
    /// counted): notify again once one is acknowledged.
    #[allow(clippy::too_many_arguments)]
    pub fn notify_confirmable(
        &mut self,
        now: u64,
        resource: u32,
        code: Code,
        options: impl Fn(&mut Builder<'_>) -> Result<(), BuildError>,
        payload: &[u8],
        random: u32,
        sent: impl FnMut(P, u16),
    ) -> Result<usize, BuildError> {
        self.notify_each(now, resource, true, code, options, payload, random, sent)
    }

    #[allow(clippy::too_many_arguments)]
    fn notify_each(
        &mut self,
        now: u64,
        resource: u32,
        always_confirm: bool,
        code: Code,
        options: impl Fn(&mut Builder<'_>) -> Result<(), BuildError>,
        payload: &[u8],
        random: u32,
        mut sent: impl FnMut(P, u16),
    ) -> Result<usize, BuildError> {
        let mut count = 0;
        for i in 0..self.observers.len() {
            if self.observers[i].resource != resource {
                continue;
            }
            let o = &self.observers[i];
            let due = always_confirm || now >= o.confirmed_at + CONFIRMABLE_AT_LEAST_EVERY_MS;
            let confirmable = due && !self.outgoing.is_full();
            if always_confirm && !confirmable {
                continue;
            }
            let observe = self.sequence.advance();
            let message_id = self.fresh_message_id();
            let o = &self.observers[i];
            let ty = if confirmable { Type::Con } else { Type::Non };
            let mut b = Builder::new(&mut self.scratch, ty, code, message_id, &o.token)?;
            b.uint_option(OptionNumber::OBSERVE, observe)?;
            options(&mut b)?;
            let len = b.payload(payload)?.len();
            let peer = o.peer;
            if confirmable {
                self.track(now, peer, message_id, len, random, true)?;
                self.observers[i].confirmed_at = now;
            } else {
                let bytes = heapless::Vec::from_slice(&self.scratch[..len])
                    .map_err(|_| BuildError::BufferTooSmall)?;
                if self.notices.is_full() {
                    // The oldest unsent notification is stale by now.
                    self.notices.pop_front();
                    self.stats.notifications_dropped += 1;
                }
                let _ = self.notices.push_back((peer, bytes));
            }
            self.observers[i].last_message_id = Some(message_id);
            sent(peer, message_id);
            count += 1;
        }
        Ok(count)
    }

    /// Forgets the observer of `peer` whose last notification was `message_id`; whether there
    /// was one.
    pub(super) fn forget_observer(&mut self, peer: P, message_id: u16) -> bool {
        match self.observers.iter().position(|o| o.peer == peer && o.last_message_id == Some(message_id)) {
            Some(i) => {
                self.observers.swap_remove(i);
                true
            }
            None => false,
        }
    }
}

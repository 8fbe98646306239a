//! What devices' POSTs bring the server, whatever carries them (UDP, TCP, TLS): frames for
//! `receive` on routes someone subscribed to, the last frame of each retained route, and
//! frames sent in Block1 blocks gathered per peer and route.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use telemetra_core::Route;
use tokio::sync::mpsc;

use super::{Answer, BeforeAck, Shared};
use crate::coap::block::Block;
use crate::coap::server::{Assembly, Gathered};
use crate::coap::{Code, Message, OptionNumber, uint_value};

/// The largest frame gathered from Block1 blocks (a constrained link sends frames in blocks).
const FRAME: usize = telemetra_codec::limits::MAX_FRAME;
/// Block-wise uploads under way at once (the oldest is dropped for a new one).
const ASSEMBLIES: usize = 256;

pub(super) struct Intake {
    shared: Arc<Mutex<Shared>>,
    delivered: mpsc::Sender<(Route, Vec<u8>)>,
    /// The last frame of each retained route.
    retained: HashMap<Route, Vec<u8>>,
    /// Frames arriving in Block1 blocks, per peer and route, with when each began.
    assemblies: HashMap<(SocketAddr, Route), (u64, Box<Assembly<FRAME>>)>,
    /// What must take a frame before it is acknowledged.
    before_ack: Option<BeforeAck>,
}

impl Intake {
    pub(super) fn new(
        shared: Arc<Mutex<Shared>>,
        delivered: mpsc::Sender<(Route, Vec<u8>)>,
        before_ack: Option<BeforeAck>,
    ) -> Intake {
        Intake { shared, delivered, retained: HashMap::new(), assemblies: HashMap::new(), before_ack }
    }

    /// The last frame of a retained route.
    pub(super) fn retained(&self, route: Route) -> Option<&Vec<u8>> {
        self.retained.get(&route)
    }

    /// A POST or PUT `m` of a frame to `route` by `peer` at `now`: 4.04 if nobody subscribed
    /// to the route, a block of a block-wise transfer, or a whole frame.
    pub(super) fn post(&mut self, now: u64, peer: SocketAddr, route: Route, m: &Message<'_>) -> Answer {
        let shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        if !shared.filters.iter().any(|f| f.matches(&route)) {
            return Answer::code(Code::NOT_FOUND);
        }
        drop(shared);
        let Some(block1) = m.option(OptionNumber::BLOCK1) else { return self.take(route, m.payload) };
        let Ok(block) = Block::decode(block1) else { return Answer::code(Code::BAD_OPTION) };
        self.gather(now, peer, route, block, m)
    }

    /// A whole frame for `receive`: 2.04, or 5.03 when the queue is full or the
    /// [`BeforeAck`] hook did not take it.
    fn take(&mut self, route: Route, frame: &[u8]) -> Answer {
        if self.delivered.capacity() == 0
            || self.before_ack.as_ref().is_some_and(|keep| !(keep.0)(route, frame))
        {
            return Answer::code(Code::SERVICE_UNAVAILABLE);
        }
        match self.delivered.try_send((route, frame.to_vec())) {
            Ok(()) => {
                if route.kind.is_retained() {
                    self.retained.insert(route, frame.to_vec());
                }
                Answer::code(Code::CHANGED)
            }
            Err(_) => Answer::code(Code::SERVICE_UNAVAILABLE),
        }
    }

    /// A block of a frame sent block-wise (RFC 7959 §2.5), gathered per peer and route.
    fn gather(&mut self, now: u64, peer: SocketAddr, route: Route, block: Block, m: &Message<'_>) -> Answer {
        if self.assemblies.len() >= ASSEMBLIES && !self.assemblies.contains_key(&(peer, route)) {
            // The transfer that started first is the likeliest abandoned.
            let oldest = self.assemblies.iter().min_by_key(|(_, (started, _))| *started).map(|(k, _)| *k);
            if let Some(key) = oldest {
                self.assemblies.remove(&key);
            }
        }
        let size1 = m.option(OptionNumber::SIZE1).and_then(uint_value);
        let (_, assembly) = self.assemblies.entry((peer, route)).or_insert_with(|| (now, Box::default()));
        let answer = match assembly.take(block, m.payload, size1) {
            Gathered::Continue(echo) => return Answer { block1: Some(echo), ..Answer::code(Code::CONTINUE) },
            Gathered::Complete(frame, echo) => {
                let frame = frame.to_vec();
                Answer { block1: Some(echo), ..self.take(route, &frame) }
            }
            Gathered::Incomplete => Answer::code(Code::REQUEST_ENTITY_INCOMPLETE),
            Gathered::TooLarge => {
                let size1 = Some(assembly.capacity() as u32);
                Answer { size1, ..Answer::code(Code::REQUEST_ENTITY_TOO_LARGE) }
            }
        };
        self.assemblies.remove(&(peer, route));
        answer
    }
}

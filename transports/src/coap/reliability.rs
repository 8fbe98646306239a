//! Confirmable reliability (RFC 7252 §4.2, §4.8): when to retransmit a confirmable message and
//! when to give up, and which incoming messages are duplicates. Time is passed in (milliseconds
//! from any origin) and randomness is injected, so the schedule is exact in tests.

use telemetra_core::heapless;

/// The transmission parameters of §4.8, and those derived from them (§4.8.2).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct Params {
    /// The first retransmission timeout, before randomisation: 2 s.
    pub ack_timeout_ms: u32,
    /// The randomisation of the first timeout, in percent of `ack_timeout_ms`: 150 (the first
    /// timeout is drawn uniformly from 2 s to 3 s).
    pub ack_random_factor_percent: u32,
    /// Retransmissions before giving up: 4.
    pub max_retransmit: u8,
    /// Outstanding interactions with one peer: 1.
    pub nstart: u8,
    /// The longest a message takes to cross the network: 100 s.
    pub max_latency_ms: u32,
    /// How long a peer may take to process a confirmable message and acknowledge it: 2 s.
    pub processing_delay_ms: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            ack_timeout_ms: 2_000,
            ack_random_factor_percent: 150,
            max_retransmit: 4,
            nstart: 1,
            max_latency_ms: 100_000,
            processing_delay_ms: 2_000,
        }
    }
}

impl Params {
    /// From the first transmission of a confirmable message to its last retransmission
    /// (MAX_TRANSMIT_SPAN: 45 s by default).
    pub const fn max_transmit_span_ms(&self) -> u64 {
        let factor = (1u64 << self.max_retransmit) - 1;
        self.ack_timeout_ms as u64 * factor * self.ack_random_factor_percent as u64 / 100
    }

    /// From the first transmission to the moment the sender gives up waiting for an ACK
    /// (MAX_TRANSMIT_WAIT: 93 s).
    pub const fn max_transmit_wait_ms(&self) -> u64 {
        let factor = (1u64 << (self.max_retransmit + 1)) - 1;
        self.ack_timeout_ms as u64 * factor * self.ack_random_factor_percent as u64 / 100
    }

    /// How long a Message ID of a confirmable message is remembered for deduplication
    /// (EXCHANGE_LIFETIME: 247 s).
    pub const fn exchange_lifetime_ms(&self) -> u64 {
        self.max_transmit_span_ms() + 2 * self.max_latency_ms as u64 + self.processing_delay_ms as u64
    }

    /// The same for a non-confirmable message (NON_LIFETIME: 145 s).
    pub const fn non_lifetime_ms(&self) -> u64 {
        self.max_transmit_span_ms() + self.max_latency_ms as u64
    }
}

/// The schedule of one confirmable message: sent at `start`, retransmitted when each timeout
/// expires (the first drawn at random from `[ACK_TIMEOUT, ACK_TIMEOUT × ACK_RANDOM_FACTOR]`,
/// then doubled each time), abandoned after `MAX_RETRANSMIT` retransmissions when the last
/// timeout expires.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Transmission {
    next_at: u64,
    timeout_ms: u64,
    retransmissions: u8,
    max_retransmit: u8,
}

/// What a [`Transmission`] says when its time comes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Due {
    /// Send the message again (the `n`th retransmission).
    Retransmit(u8),
    /// No acknowledgement came in time: the exchange failed.
    GiveUp,
}

impl Transmission {
    /// A message first sent at `now`; `random` is any value from the injected random source
    /// (uniform over `u32`).
    pub fn start(now: u64, params: &Params, random: u32) -> Transmission {
        let base = u64::from(params.ack_timeout_ms);
        let spread = base * u64::from(params.ack_random_factor_percent.max(100) - 100) / 100;
        // Uniform in [base, base + spread].
        let timeout_ms = base + ((u64::from(random) * (spread + 1)) >> 32);
        Transmission {
            next_at: now + timeout_ms,
            timeout_ms,
            retransmissions: 0,
            max_retransmit: params.max_retransmit,
        }
    }

    /// When [`Transmission::on_timeout`] is due.
    pub const fn next_at(&self) -> u64 {
        self.next_at
    }

    /// Retransmissions so far.
    pub const fn retransmissions(&self) -> u8 {
        self.retransmissions
    }

    /// The timeout expired at `now` (at or after [`Transmission::next_at`]; earlier: `None`).
    pub fn on_timeout(&mut self, now: u64) -> Option<Due> {
        if now < self.next_at {
            return None;
        }
        if self.retransmissions >= self.max_retransmit {
            return Some(Due::GiveUp);
        }
        self.retransmissions += 1;
        self.timeout_ms *= 2;
        self.next_at = now + self.timeout_ms;
        Some(Due::Retransmit(self.retransmissions))
    }
}

/// Message IDs seen recently from peers, each with what was answered to it, so that a
/// duplicate is answered the same way and not processed again (§4.5). At most `N` are kept;
/// each is forgotten after its lifetime (EXCHANGE_LIFETIME for confirmable, NON_LIFETIME for
/// non-confirmable), or, when full, the oldest first (counted).
#[derive(Clone, Debug)]
pub struct Dedup<K, const N: usize> {
    seen: heapless::Deque<Seen<K>, N>,
    /// Entries forgotten early because the table was full.
    pub evicted: u64,
}

#[derive(Clone, Copy, Debug)]
struct Seen<K> {
    peer: K,
    message_id: u16,
    until: u64,
}

/// Whether an incoming message is new.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Novelty {
    /// First seen now: process it.
    New,
    /// Seen before, within its lifetime: answer as before, do not process it again.
    Duplicate,
}

impl<K: Copy + Eq, const N: usize> Default for Dedup<K, N> {
    fn default() -> Self {
        Dedup { seen: heapless::Deque::new(), evicted: 0 }
    }
}

impl<K: Copy + Eq, const N: usize> Dedup<K, N> {
    /// Notes message `message_id` from `peer` at `now`, remembered for `lifetime_ms`.
    pub fn check(&mut self, peer: K, message_id: u16, now: u64, lifetime_ms: u64) -> Novelty {
        while self.seen.front().is_some_and(|s| s.until <= now) {
            self.seen.pop_front();
        }
        if self.seen.iter().any(|s| s.peer == peer && s.message_id == message_id) {
            return Novelty::Duplicate;
        }
        if self.seen.is_full() {
            self.seen.pop_front();
            self.evicted += 1;
        }
        // Lifetimes are per kind, so `until` is not sorted across kinds; an entry stays at
        // most until those before it go, which only lengthens its memory.
        let _ = self.seen.push_back(Seen { peer, message_id, until: now + lifetime_ms });
        Novelty::New
    }

    /// How many Message IDs are remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// True when none is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_derived_times_are_the_rfcs() {
        let p = Params::default();
        assert_eq!(p.max_transmit_span_ms(), 45_000);
        assert_eq!(p.max_transmit_wait_ms(), 93_000);
        assert_eq!(p.exchange_lifetime_ms(), 247_000);
        assert_eq!(p.non_lifetime_ms(), 145_000);
    }

    #[test]
    fn the_first_timeout_is_random_within_the_range_then_doubles() {
        let p = Params::default();
        assert_eq!(Transmission::start(0, &p, 0).next_at(), 2_000);
        assert_eq!(Transmission::start(0, &p, u32::MAX).next_at(), 3_000);
        assert_eq!(Transmission::start(0, &p, u32::MAX / 2).next_at(), 2_500);
        // From 2.4 s: retransmit at 2.4, 7.2, 16.8, 36, then give up at 74.4 (31 × the first).
        let mut t = Transmission::start(0, &p, (u32::MAX / 5) * 2);
        let first = t.next_at();
        assert_eq!(first, 2_400);
        let mut at = Vec::new();
        while let Some(due) = t.on_timeout(t.next_at()) {
            at.push((t.next_at(), due));
            if due == Due::GiveUp {
                break;
            }
        }
        use Due::*;
        assert_eq!(
            at,
            [
                (7_200, Retransmit(1)),
                (16_800, Retransmit(2)),
                (36_000, Retransmit(3)),
                (74_400, Retransmit(4)),
                (74_400, GiveUp),
            ]
        );
        assert!(74_400 <= p.max_transmit_wait_ms());
        assert_eq!(t.on_timeout(0), None, "not before its time");
    }

    #[test]
    fn duplicates_are_found_within_their_lifetime_then_forgotten() {
        let mut d: Dedup<u8, 4> = Dedup::default();
        let life = 247_000;
        assert_eq!(d.check(1, 7, 0, life), Novelty::New);
        assert_eq!(d.check(1, 7, 1_000, life), Novelty::Duplicate);
        assert_eq!(d.check(2, 7, 1_000, life), Novelty::New, "another peer's id 7");
        assert_eq!(d.check(1, 7, 247_000, life), Novelty::New, "its lifetime is over");
        // Peer 2's id 7 has expired by now; with the renewed (1, 7) and four more the table of
        // four is full: the oldest goes first, counted.
        for id in 10..14 {
            d.check(1, id, 250_000, life);
        }
        assert_eq!((d.len(), d.evicted), (4, 1));
        assert_eq!(d.check(1, 7, 250_000, life), Novelty::New, "evicted, so taken as new");
    }

    use std::vec::Vec;
}

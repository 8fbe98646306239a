//! The offline queue: bounded by count and bytes, with a per-message expiry and a policy for
//! when it is full.

use alloc::collections::VecDeque;

use super::message::Message;
use super::options::{FullPolicy, QueueOptions};

/// The identity of a published message, in publish order; events name messages by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(pub u64);

/// A message waiting to be sent.
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    pub id: MessageId,
    pub message: Message,
    /// When it was published (ms).
    pub since: u64,
    /// When it expires (ms), if it does.
    pub deadline: Option<u64>,
}

impl Queued {
    /// The MQTT 5 Message Expiry Interval to send at `now`: the seconds left of the message's
    /// own expiry (at least 1 while it has not expired).
    pub fn expiry_left(&self, now: u64) -> Option<u32> {
        let total = self.message.properties().message_expiry?;
        let elapsed = now.saturating_sub(self.since);
        // A 32-bit division (64-bit ones are software on a Cortex-M). Past 49.7 days in the
        // queue, divide by 1024 instead: at most 2.4 % less time counted as spent.
        let spent = match u32::try_from(elapsed) {
            Ok(ms) => ms / 1000,
            Err(_) => u32::try_from(elapsed >> 10).unwrap_or(u32::MAX),
        };
        Some(total.saturating_sub(spent).max(1))
    }

    pub fn expired(&self, now: u64) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }
}

/// Why a queued message left the queue without being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gone {
    /// Its expiry passed.
    Expired,
    /// [`FullPolicy::DropOldest`] made room with it.
    Dropped,
}

/// Why [`Outbox::push`] did not take a message.
pub(crate) enum Refusal {
    /// Full under [`FullPolicy::Reject`]: the message comes back.
    Full(Message),
}

pub(crate) struct Outbox {
    opts: QueueOptions,
    items: VecDeque<Queued>,
    bytes: usize,
}

impl Outbox {
    pub fn new(opts: QueueOptions) -> Self {
        Outbox { opts, items: VecDeque::new(), bytes: 0 }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn fits(&self, weight: usize) -> bool {
        self.items.len() < self.opts.capacity && self.bytes + weight <= self.opts.max_bytes
    }

    // The refused message comes back by value: no allocation on the refusal path.
    #[allow(clippy::result_large_err)]
    /// Queues a message. When the queue is full, expired messages make room first; then
    /// [`FullPolicy::DropOldest`] drops the oldest. `gone` hears of each message removed.
    pub fn push(
        &mut self,
        id: MessageId,
        message: Message,
        now: u64,
        gone: &mut impl FnMut(MessageId, Gone),
    ) -> Result<(), Refusal> {
        let weight = message.weight();
        if weight > self.opts.max_bytes || self.opts.capacity == 0 {
            return Err(Refusal::Full(message));
        }
        if !self.fits(weight) {
            self.expire(now, &mut |old| gone(old, Gone::Expired));
        }
        while !self.fits(weight) {
            match self.opts.when_full {
                FullPolicy::Reject => return Err(Refusal::Full(message)),
                FullPolicy::DropOldest => {
                    if let Some(old) = self.pop_front() {
                        gone(old.id, Gone::Dropped);
                    }
                }
            }
        }
        let secs = message.properties().message_expiry.or(self.opts.expiry);
        let deadline = secs.map(|s| now + u64::from(s) * 1000);
        self.bytes += weight;
        self.items.push_back(Queued { id, message, since: now, deadline });
        Ok(())
    }

    /// Puts messages back at the front, in order (in-flight ones whose session was lost).
    /// They were accepted once, so the bounds do not refuse them.
    pub fn requeue_front(&mut self, items: impl DoubleEndedIterator<Item = Queued>) {
        for q in items.rev() {
            self.bytes += q.message.weight();
            self.items.push_front(q);
        }
    }

    pub fn pop_front(&mut self) -> Option<Queued> {
        let q = self.items.pop_front()?;
        self.bytes -= q.message.weight();
        Some(q)
    }

    pub fn front(&self) -> Option<&Queued> {
        self.items.front()
    }

    /// Removes every expired message, reporting each.
    pub fn expire(&mut self, now: u64, expired: &mut impl FnMut(MessageId)) {
        let before = self.items.len();
        self.items.retain(|q| {
            let gone = q.expired(now);
            if gone {
                expired(q.id);
            }
            !gone
        });
        if self.items.len() != before {
            self.bytes = self.items.iter().map(|q| q.message.weight()).sum();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn opts(capacity: usize, when_full: FullPolicy) -> QueueOptions {
        QueueOptions { capacity, max_bytes: 100, expiry: None, when_full }
    }

    #[test]
    fn reject_hands_the_message_back() {
        let mut o = Outbox::new(opts(2, FullPolicy::Reject));
        let mut none = |_, _| panic!("nothing is dropped");
        o.push(MessageId(1), Message::new("a", "1"), 0, &mut none).ok().unwrap();
        o.push(MessageId(2), Message::new("a", "2"), 0, &mut none).ok().unwrap();
        let Err(Refusal::Full(m)) = o.push(MessageId(3), Message::new("a", "3"), 0, &mut none) else {
            panic!("a full queue refuses")
        };
        assert_eq!(m.payload, b"3");
        assert_eq!(o.len(), 2);
    }

    #[test]
    fn drop_oldest_makes_room_by_count_and_bytes() {
        let mut o = Outbox::new(opts(3, FullPolicy::DropOldest));
        let mut dropped = Vec::new();
        for i in 0..5u64 {
            o.push(MessageId(i), Message::new("t", [0u8; 10]), 0, &mut |id, _| dropped.push(id))
                .ok()
                .unwrap();
        }
        assert_eq!(dropped, [MessageId(0), MessageId(1)]);
        // A 91-byte message needs the room of every small one.
        o.push(MessageId(9), Message::new("t", [0u8; 90]), 0, &mut |id, _| dropped.push(id)).ok().unwrap();
        assert_eq!(o.len(), 1);
        assert_eq!(o.front().unwrap().id, MessageId(9));
    }

    #[test]
    fn expiry_uses_the_message_or_the_queue_default() {
        let mut q = opts(10, FullPolicy::Reject);
        q.expiry = Some(10);
        let mut o = Outbox::new(q);
        let mut none = |_, _| {};
        o.push(MessageId(1), Message::new("a", "x"), 0, &mut none).ok().unwrap();
        o.push(MessageId(2), Message::new("a", "y").with_expiry(2), 0, &mut none).ok().unwrap();
        assert_eq!(o.front().unwrap().expiry_left(1500), None);
        let mut gone = Vec::new();
        o.expire(2000, &mut |id| gone.push(id));
        assert_eq!(gone, [MessageId(2)]);
        o.expire(10_000, &mut |id| gone.push(id));
        assert_eq!(gone, [MessageId(2), MessageId(1)]);
        assert!(o.is_empty());
    }
}

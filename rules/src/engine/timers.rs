//! The devices' next deadlines, earliest first, so that `advance` visits only the devices with
//! something due (the cost of the deadlines that expire, not of the devices).
//!
//! A binary heap of `(instant, slot)`. Each device is queued at most once in effect, at an
//! instant no later than its next deadline (`queued`): a deadline that moves later (a reading
//! postpones a silence, as nearly every reading does) changes nothing here; the entry comes up
//! early, finds the device not due yet, and queues it again at its deadline. Only a deadline
//! that moves earlier than the device's entry pushes a new one, and the old entry is then found
//! stale (its instant is no longer the device's `queued`) when it comes up. So the queue costs
//! the deadlines that come up, not the readings.

use alloc::collections::BinaryHeap;
use core::cmp::Reverse;

/// `(deadline, slot)` pairs, earliest first.
#[derive(Debug, Default)]
pub(crate) struct Timers(BinaryHeap<Reverse<(u64, u32)>>);

impl Timers {
    /// Notes that device `slot` has something due at `at` (nothing for `u64::MAX`: no
    /// deadline); `queued` is the instant the device is queued at (`u64::MAX`: not queued),
    /// and only an earlier `at` queues it again.
    pub(crate) fn schedule(&mut self, slot: u32, at: u64, queued: &mut u64) {
        if at < *queued {
            *queued = at;
            self.0.push(Reverse((at, slot)));
        }
    }

    /// Takes the earliest entry if it is due before `now`.
    pub(crate) fn pop_before(&mut self, now: u64) -> Option<(u64, u32)> {
        let Reverse((at, slot)) = *self.0.peek()?;
        (at < now).then(|| {
            self.0.pop();
            (at, slot)
        })
    }

    /// The earliest entry that `valid(slot, at)` accepts; the stale ones before it are dropped.
    pub(crate) fn first_valid(&mut self, valid: impl Fn(u32, u64) -> bool) -> Option<u64> {
        while let Some(&Reverse((at, slot))) = self.0.peek() {
            if valid(slot, at) {
                return Some(at);
            }
            self.0.pop();
        }
        None
    }

    /// Forgets every entry.
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    /// How many entries, stale ones included.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

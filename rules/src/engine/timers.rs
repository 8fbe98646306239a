//! The devices' next deadlines, earliest first, so that `advance` visits only the devices with
//! something due (the cost of the deadlines that expire, not of the devices).
//!
//! A binary heap of `(deadline, slot)` with lazy deletion: when a device's deadline changes, the
//! new one is pushed and the old entry stays until it reaches the top, where the caller finds
//! it stale (the device's deadline is no longer that) and skips it. A device's deadline changes
//! when it is decided (once per deadline that expires) or when a reading makes it earlier
//! (rare: a new sample in an empty window, a state just made), so stale entries stay few.

use alloc::collections::BinaryHeap;
use core::cmp::Reverse;

/// `(deadline, slot)` pairs, earliest first.
#[derive(Debug, Default)]
pub(crate) struct Timers(BinaryHeap<Reverse<(u64, u32)>>);

impl Timers {
    /// Notes that device `slot` has something due at `at` (nothing for `u64::MAX`: no deadline).
    pub(crate) fn schedule(&mut self, slot: u32, at: u64) {
        if at != u64::MAX {
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

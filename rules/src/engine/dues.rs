//! Each rule's next deadline on one device, and the earliest of them.
//!
//! A device's engine reads the earliest deadline after every reading and every decision. On a
//! node (one device, its memory in cache) a plain list and a scan are the smallest code. In a
//! fleet, a device's deadlines are cold memory when its reading arrives, and a scan of 100
//! rules' deadlines reads 800 bytes: [`Blocked`] keeps the minimum of every cache line of
//! deadlines, so a reading reads the line of each rule it decides and the line of minimums.

use alloc::vec::Vec;
use core::ops::Range;

/// A device's rule deadlines (see `run_due`): by rule position, `u64::MAX` for none,
/// [`UNKNOWN`](super::deadline::UNKNOWN) for one not known yet.
pub(crate) trait Dues {
    /// Rule `i`'s deadline (`u64::MAX` beyond the list).
    fn due(&self, i: usize) -> u64;
    /// Sets rule `i`'s deadline.
    fn set_due(&mut self, i: usize, at: u64);
    /// The earliest deadline (`u64::MAX`: none).
    fn earliest(&self) -> u64;
    /// From block `from` on, the first range of rules that may hold a deadline at or before
    /// `at`, and the block after it.
    fn next_range(&self, from: usize, at: u64) -> Option<(Range<usize>, usize)>;
}

/// A plain list, scanned whole: a node's.
impl Dues for [u64] {
    fn due(&self, i: usize) -> u64 {
        self.get(i).copied().unwrap_or(u64::MAX)
    }

    fn set_due(&mut self, i: usize, at: u64) {
        if let Some(due) = self.get_mut(i) {
            *due = at;
        }
    }

    fn earliest(&self) -> u64 {
        self.iter().copied().min().unwrap_or(u64::MAX)
    }

    fn next_range(&self, from: usize, _at: u64) -> Option<(Range<usize>, usize)> {
        (from == 0 && !self.is_empty()).then_some((0..self.len(), 1))
    }
}

/// Deadlines in blocks of one cache line, with each block's minimum.
#[derive(Debug, Clone, Default)]
pub(crate) struct Blocked {
    each: Vec<u64>,
    mins: Vec<u64>,
}

/// Deadlines per block: 64 bytes.
const BLOCK: usize = 8;

impl Blocked {
    /// Rule `i`'s deadline and its block's minimum, read (see `Engine`'s `prefetch`).
    #[inline(always)]
    pub(crate) fn lines_of(&self, i: usize) -> (u64, u64) {
        (self.due(i), self.mins.get(i / BLOCK).copied().unwrap_or(u64::MAX))
    }

    /// `n` rules' deadlines, each `at`.
    pub(crate) fn filled(n: usize, at: u64) -> Self {
        Blocked { each: alloc::vec![at; n], mins: alloc::vec![at; n.div_ceil(BLOCK)] }
    }

    fn block(&self, b: usize) -> Range<usize> {
        b * BLOCK..((b + 1) * BLOCK).min(self.each.len())
    }
}

impl Dues for Blocked {
    fn due(&self, i: usize) -> u64 {
        self.each.get(i).copied().unwrap_or(u64::MAX)
    }

    fn set_due(&mut self, i: usize, at: u64) {
        let Some(due) = self.each.get_mut(i) else { return };
        let old = core::mem::replace(due, at);
        let b = i / BLOCK;
        let min = self.mins[b];
        if at < min {
            self.mins[b] = at;
        } else if old == min && at != old {
            // It held its block's minimum and moved later: the block (one line) is read again.
            self.mins[b] = self.each[self.block(b)].iter().copied().min().unwrap_or(u64::MAX);
        }
    }

    fn earliest(&self) -> u64 {
        self.mins.iter().copied().min().unwrap_or(u64::MAX)
    }

    fn next_range(&self, from: usize, at: u64) -> Option<(Range<usize>, usize)> {
        let b = (from..self.mins.len()).find(|&b| self.mins[b] <= at)?;
        Some((self.block(b), b + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever is set, the blocks answer as a plain scan of the same deadlines does.
        #[test]
        fn blocks_answer_as_a_scan(n in 0usize..40, sets in proptest::collection::vec((0usize..40, 0u64..50), 0..200), at in 0u64..50) {
            let mut plain = alloc::vec![u64::MAX; n];
            let mut blocked = Blocked::filled(n, u64::MAX);
            for (i, v) in sets {
                let v = if v == 49 { u64::MAX } else { v };
                plain[..].set_due(i, v);
                blocked.set_due(i, v);
                prop_assert_eq!(blocked.earliest(), plain[..].earliest());
            }
            // Every rule due at or before `at` is in some range.
            let mut covered = alloc::vec![false; n];
            let mut b = 0;
            while let Some((range, next)) = blocked.next_range(b, at) {
                b = next;
                for i in range {
                    covered[i] = true;
                }
            }
            for i in 0..n {
                prop_assert_eq!(blocked.due(i), plain[..].due(i));
                prop_assert!(covered[i] || plain[i] > at, "rule {} due {} missed", i, plain[i]);
            }
        }
    }
}

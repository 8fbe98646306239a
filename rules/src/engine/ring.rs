//! A queue that grows up to a capacity, then drops its oldest entry for each new one: the
//! samples of a window. `VecDeque` does the same, but its growth and wrap-around copy with
//! overlapping moves, which link `memmove` (1.5 KB on a Cortex-M) into a firmware that has no
//! other use for it; this one only appends, overwrites, or rebuilds in order.

use alloc::vec::Vec;

/// At most `cap` entries, oldest first.
#[derive(Debug, Clone)]
pub(crate) struct Ring<T> {
    /// The storage: grows by appending until it holds `cap` entries.
    buf: Vec<T>,
    /// Where the oldest entry is.
    head: usize,
    /// How many entries are live.
    len: usize,
    cap: usize,
}

impl<T: Copy> Ring<T> {
    /// An empty ring that will hold up to `cap` entries (nothing is allocated yet).
    pub(crate) fn new(cap: usize) -> Self {
        Ring { buf: Vec::new(), head: 0, len: 0, cap }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `x` as the newest entry; returns true if the oldest was dropped to make room.
    pub(crate) fn push(&mut self, x: T) -> bool {
        if self.cap == 0 {
            return true;
        }
        if self.len == self.cap {
            let at = self.head;
            self.buf[at] = x;
            self.head = self.wrap(at + 1);
            return true;
        }
        if self.len < self.buf.len() {
            let at = self.wrap(self.head + self.len);
            self.buf[at] = x;
        } else if self.head == 0 {
            self.buf.push(x);
        } else {
            // Full storage that wraps: rebuild it in order with room to grow.
            let mut grown = Vec::with_capacity((self.len * 2).max(4).min(self.cap));
            grown.extend(self.iter());
            grown.push(x);
            self.buf = grown;
            self.head = 0;
        }
        self.len += 1;
        false
    }

    /// Drops the oldest entry.
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        let x = self.front()?;
        self.len -= 1;
        self.head = if self.len == 0 { 0 } else { self.wrap(self.head + 1) };
        Some(x)
    }

    /// The oldest entry.
    pub(crate) fn front(&self) -> Option<T> {
        (self.len > 0).then(|| self.buf[self.head])
    }

    /// The newest entry.
    pub(crate) fn back(&self) -> Option<T> {
        (self.len > 0).then(|| self.buf[self.wrap(self.head + self.len - 1)])
    }

    /// A position past the end of the storage, brought back to its start (positions are
    /// below twice the storage's length: no division on the per-reading path).
    #[inline]
    fn wrap(&self, at: usize) -> usize {
        if at >= self.buf.len() { at - self.buf.len() } else { at }
    }

    /// The entries, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = T> + Clone + '_ {
        // Two plain slices (as `VecDeque::iter`), so that folds over them run at slice speed.
        let end = self.head + self.len;
        let (first, wrapped) = match end.checked_sub(self.buf.len()) {
            Some(over) if over > 0 => (&self.buf[self.head..], &self.buf[..over]),
            _ => (&self.buf[self.head..end], &self.buf[..0]),
        };
        first.iter().chain(wrapped).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    proptest! {
        /// It behaves as a `VecDeque` that drops its front when full.
        #[test]
        fn behaves_like_a_bounded_deque(cap in 0usize..12, ops in proptest::collection::vec(any::<Option<u8>>(), 0..200)) {
            let (mut ours, mut model) = (Ring::new(cap), VecDeque::new());
            for op in ops {
                match op {
                    Some(x) => {
                        let full = model.len() == cap;
                        if full {
                            model.pop_front();
                        }
                        if cap > 0 {
                            model.push_back(x);
                        }
                        prop_assert_eq!(ours.push(x), full || cap == 0);
                    }
                    None => prop_assert_eq!(ours.pop_front(), model.pop_front()),
                }
                prop_assert_eq!(ours.len(), model.len());
                prop_assert_eq!(ours.front(), model.front().copied());
                prop_assert_eq!(ours.back(), model.back().copied());
                prop_assert!(ours.iter().eq(model.iter().copied()));
            }
        }
    }
}

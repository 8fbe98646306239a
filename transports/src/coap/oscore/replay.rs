//! The replay window of a recipient (RFC 8613 §7.4): which Partial IVs (sender sequence
//! numbers) of requests were already taken, over a sliding window of the last 32; or that
//! this is unknown (a server restarted without its window, RFC 8613 Appendix B.1.2).

/// A sliding window over the highest sequence number seen and the 31 before it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ReplayWindow {
    /// The highest sequence number taken, if any.
    highest: Option<u64>,
    /// Bit `i` set: `highest - i` was taken.
    seen: u32,
    /// Nothing is known of what was taken: every number is refused until the window is
    /// started again from one known to be fresh.
    unknown: bool,
}

impl ReplayWindow {
    /// An empty window (a fresh context).
    pub const fn new() -> ReplayWindow {
        ReplayWindow { highest: None, seen: 0, unknown: false }
    }

    /// A window whose state was lost: nothing is fresh until [`ReplayWindow::start_at`].
    pub const fn unknown() -> ReplayWindow {
        ReplayWindow { highest: None, seen: 0, unknown: true }
    }

    /// Whether the window knows what was taken (it is not [`ReplayWindow::unknown`]).
    pub fn is_known(&self) -> bool {
        !self.unknown
    }

    /// Starts the window again at `seq`, a number known to be fresh (its request carried the
    /// Echo value the server gave after it lost the window): `seq` and everything before it
    /// count as taken.
    pub fn start_at(&mut self, seq: u64) {
        *self = ReplayWindow { highest: Some(seq), seen: u32::MAX, unknown: false };
    }

    /// Whether `seq` would be fresh (not seen, not older than the window).
    pub fn is_fresh(&self, seq: u64) -> bool {
        if self.unknown {
            return false;
        }
        match self.highest {
            None => true,
            Some(h) if seq > h => true,
            Some(h) => h - seq < 32 && self.seen & (1 << (h - seq)) == 0,
        }
    }

    /// Takes `seq` (after its message authenticated); `false` if it was not fresh.
    pub fn take(&mut self, seq: u64) -> bool {
        if !self.is_fresh(seq) {
            return false;
        }
        match self.highest {
            Some(h) if seq <= h => self.seen |= 1 << (h - seq),
            Some(h) => {
                let shift = seq - h;
                self.seen = if shift >= 32 { 1 } else { self.seen << shift | 1 };
                self.highest = Some(seq);
            }
            None => {
                self.seen = 1;
                self.highest = Some(seq);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_number_once_within_the_window_and_nothing_older() {
        let mut w = ReplayWindow::new();
        assert!(w.take(5));
        assert!(!w.take(5), "replayed");
        assert!(w.take(3), "late but in the window");
        assert!(!w.take(3));
        assert!(w.take(40));
        assert!(!w.take(8), "older than 32 behind the highest");
        assert!(w.take(9), "exactly 31 behind");
        assert!(!w.take(40));
        assert!(w.take(1000));
        assert!(!w.take(40), "the window moved on");
    }

    #[test]
    fn an_unknown_window_takes_nothing_until_started_and_then_nothing_older() {
        let mut w = ReplayWindow::unknown();
        assert!(!w.is_known());
        assert!(!w.take(0) && !w.take(1_000), "nothing is fresh while the window is unknown");
        w.start_at(100);
        assert!(w.is_known());
        assert!(!w.take(100) && !w.take(99) && !w.take(70), "the echoed number and all before it");
        assert!(w.take(101) && w.take(140));
        assert!(!w.take(101));
    }
}

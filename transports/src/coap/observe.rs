//! Observe (RFC 7641) arithmetic: the Observe option's values and the rule by which a client
//! tells a fresh notification from a stale or reordered one (§3.4), and the server's sequence
//! numbers (§4.4).

/// Observe option value 0 in a GET: register.
pub const REGISTER: u32 = 0;
/// Observe option value 1 in a GET: deregister.
pub const DEREGISTER: u32 = 1;
/// Observe values are 24-bit.
pub const MODULUS: u32 = 1 << 24;
/// A notification this much later (in milliseconds) than the last is fresh whatever its
/// number (§3.4: 128 seconds).
pub const FRESHNESS_WINDOW_MS: u64 = 128_000;
/// A server sends a confirmable notification at least this often (§4.5: every 24 hours), to
/// learn whether the client is still there.
pub const CONFIRMABLE_AT_LEAST_EVERY_MS: u64 = 24 * 3600 * 1000;

/// The last notification a client took for one observation: its number and when it came.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Freshness {
    value: u32,
    at: u64,
}

impl Freshness {
    /// The first notification (or the response to the registration), numbered `value`, at
    /// `at` (milliseconds).
    pub const fn new(value: u32, at: u64) -> Freshness {
        Freshness { value: value % MODULUS, at }
    }

    /// Whether a notification numbered `value` arriving at `at` is newer than the last one
    /// taken (§3.4); if so it becomes the last. A stale or reordered one is to be ignored.
    pub fn take(&mut self, value: u32, at: u64) -> bool {
        let (v1, v2) = (self.value, value % MODULUS);
        let half = MODULUS / 2;
        let newer =
            (v1 < v2 && v2 - v1 < half) || (v1 > v2 && v1 - v2 > half) || at > self.at + FRESHNESS_WINDOW_MS;
        if newer {
            *self = Freshness { value: v2, at };
        }
        newer
    }
}

/// A server's notification numbers for one resource: each notification takes the next, modulo
/// 2^24.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Sequence(u32);

impl Sequence {
    /// Starting at `value` (any: a random start is fine).
    pub const fn starting_at(value: u32) -> Sequence {
        Sequence(value % MODULUS)
    }

    /// The number for the next notification.
    pub fn advance(&mut self) -> u32 {
        let v = self.0;
        self.0 = (self.0 + 1) % MODULUS;
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_rfcs_rule_with_wrap_around() {
        let mut f = Freshness::new(5, 0);
        assert!(f.take(6, 10));
        assert!(!f.take(6, 20), "the same number again is not newer");
        assert!(!f.take(4, 30), "an older one arriving late is ignored");
        // Across the wrap: 2^24 - 1 then 0.
        let mut f = Freshness::new(MODULUS - 1, 0);
        assert!(f.take(0, 1));
        assert!(!f.take(MODULUS - 2, 2));
        // Far apart in number but 128 s later: fresh (the server may have restarted).
        let mut f = Freshness::new(1000, 0);
        assert!(!f.take(10, 100_000));
        assert!(f.take(10, 128_001));
    }

    proptest! {
        /// Notifications sent in order and delivered in any order: the client takes a
        /// subsequence that is increasing in send order and always includes the last sent
        /// (when all arrive within 128 s), so it ends on the latest state.
        #[test]
        fn reordering_never_goes_back_and_ends_on_the_latest(
            start in 0u32..MODULUS,
            n in 2usize..40,
            order in proptest::collection::vec(any::<u16>(), 40),
        ) {
            let mut seq = Sequence::starting_at(start);
            let sent: Vec<u32> = (0..n).map(|_| seq.advance()).collect();
            let mut arrival: Vec<usize> = (0..n).collect();
            arrival.sort_by_key(|&i| order[i]);
            let mut f = Freshness::new(sent[0].wrapping_sub(1) % MODULUS, 0);
            let mut taken = Vec::new();
            for (t, &i) in arrival.iter().enumerate() {
                if f.take(sent[i], t as u64) {
                    taken.push(i);
                }
            }
            prop_assert!(taken.windows(2).all(|w| w[0] < w[1]), "never goes back: {:?}", taken);
            prop_assert_eq!(taken.last().copied(), Some(n - 1));
        }
    }

    use std::vec::Vec;
}

//! Reconnect delays: exponential back-off with jitter, so a fleet that lost its broker does
//! not come back in one synchronized wave (and no client retries in a tight loop).

use std::time::Duration;

/// How long to wait before reconnect attempt `n`: `initial * factor^n`, capped at `max`, then
/// jittered to a uniform value in `[delay * (1 - jitter), delay]`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Backoff {
    /// The first delay.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
    /// The growth per failed attempt.
    pub factor: f64,
    /// The share of the delay drawn at random, 0 (none) to 1 (full jitter).
    pub jitter: f64,
    /// How long a connection must stay up before the delays start again from `initial`: a
    /// broker that accepts and then drops the connection at once is retried with growing
    /// delays, not every `initial`.
    pub stable_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(30),
            factor: 2.0,
            jitter: 0.5,
            stable_after: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// The delay before attempt `attempt` (0-based), with `random` uniform in `[0, 1)`.
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let grown = self.initial.as_secs_f64() * self.factor.max(1.0).powi(attempt.min(64) as i32);
        let capped = grown.min(self.max.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0);
        Duration::from_secs_f64(capped * (1.0 - jitter * random.clamp(0.0, 1.0)))
    }
}

/// A small xorshift generator for jitter (not for anything secret).
#[derive(Debug, Clone)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub fn new(seed: u64) -> Self {
        Jitter(seed | 1)
    }

    /// Uniform in `[0, 1)`.
    pub fn next(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_and_jitters() {
        let b = Backoff::default();
        assert_eq!(b.delay(0, 0.0), Duration::from_millis(200));
        assert_eq!(b.delay(3, 0.0), Duration::from_millis(1600));
        assert_eq!(b.delay(30, 0.0), Duration::from_secs(30));
        assert_eq!(b.delay(30, 0.999_999).as_secs(), 15);
        let mut j = Jitter::new(42);
        let draws: Vec<f64> = (0..1000).map(|_| j.next()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        let mean = draws.iter().sum::<f64>() / 1000.0;
        assert!((0.4..0.6).contains(&mean), "uniform-ish: mean {mean}");
        // Two clients seeded differently wait differently.
        let (mut a, mut b2) = (Jitter::new(1), Jitter::new(2));
        assert_ne!(b.delay(5, a.next()), b.delay(5, b2.next()));
    }
}

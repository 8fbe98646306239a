//! The retransmission timeout from the measured round trip (RFC 6298, in milliseconds): a
//! smoothed round trip and its variation, the timeout their sum with four variations, doubled
//! on each expiry (back-off) until the next measurement. Only frames sent once are measured
//! (Karn's algorithm): an acknowledgement of a resent frame may answer either copy.

/// The estimator. Values are kept in eighths of a millisecond.
#[derive(Clone, Copy, Debug)]
pub struct Rtt {
    srtt: Option<u32>,
    rttvar: u32,
    rto: u32,
    min: u32,
    max: u32,
}

impl Rtt {
    /// Before any measurement the timeout is `initial`; it stays within `min..=max` (ms).
    pub const fn new(initial: u32, min: u32, max: u32) -> Rtt {
        Rtt { srtt: None, rttvar: 0, rto: initial, min, max }
    }

    /// Takes a round trip of `sample` ms.
    pub fn sample(&mut self, sample: u32) {
        let r = sample.saturating_mul(8);
        let (srtt, rttvar) = match self.srtt {
            None => (r, r / 2),
            Some(s) => (s - s / 8 + r / 8, self.rttvar - self.rttvar / 4 + s.abs_diff(r) / 4),
        };
        self.srtt = Some(srtt);
        self.rttvar = rttvar;
        let rto = (srtt + (4 * rttvar).max(8)) / 8;
        self.rto = rto.clamp(self.min, self.max);
    }

    /// The timer expired: wait twice as long next time.
    pub fn back_off(&mut self) {
        self.rto = self.rto.saturating_mul(2).min(self.max);
    }

    /// The current timeout, ms.
    pub fn rto(&self) -> u32 {
        self.rto
    }

    /// The smoothed round trip, ms (none measured yet: `None`).
    pub fn smoothed(&self) -> Option<u32> {
        self.srtt.map(|s| s / 8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_rfc_6298() {
        let mut r = Rtt::new(1000, 10, 4000);
        assert_eq!(r.rto(), 1000);
        r.sample(100);
        // SRTT 100, RTTVAR 50: RTO = 100 + 4 * 50.
        assert_eq!((r.smoothed(), r.rto()), (Some(100), 300));
        r.sample(100);
        // RTTVAR = 3/4 * 50 + 1/4 * 0 = 37.5; RTO = 100 + 150.
        assert_eq!((r.smoothed(), r.rto()), (Some(100), 250));
        r.back_off();
        assert_eq!(r.rto(), 500);
        for _ in 0..10 {
            r.back_off();
        }
        assert_eq!(r.rto(), 4000, "capped");
        for _ in 0..50 {
            r.sample(1);
        }
        assert_eq!(r.rto(), 10, "floored");
    }
}

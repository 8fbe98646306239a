//! Time as the model sees it. Nothing in telemetra reads a clock: callers pass timestamps in.

use core::time::Duration;

use serde::{Deserialize, Serialize};

/// A point in time: milliseconds since the Unix epoch (1970-01-01T00:00:00Z, UTC).
///
/// Devices without a real-time clock may use milliseconds since boot and mark their readings
/// with [`Quality::CLOCK_UNSYNCED`](crate::Quality::CLOCK_UNSYNCED). On the wire a timestamp is
/// a varint (6 bytes for dates in this century).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// From milliseconds since the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Timestamp(ms)
    }

    /// From whole seconds since the epoch (saturating far in the future).
    pub const fn from_secs(s: u64) -> Self {
        Timestamp(s.saturating_mul(1000))
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// This time plus `d`, or `None` on overflow.
    pub fn checked_add(self, d: Duration) -> Option<Self> {
        let ms = u64::try_from(d.as_millis()).ok()?;
        self.0.checked_add(ms).map(Timestamp)
    }

    /// This time plus `d`, saturating at the largest timestamp.
    pub fn saturating_add(self, d: Duration) -> Self {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        let t = Timestamp::from_secs(10);
        assert_eq!(t.as_millis(), 10_000);
        assert_eq!(t.checked_add(Duration::from_millis(5)), Some(Timestamp(10_005)));
        assert_eq!(Timestamp(u64::MAX).checked_add(Duration::from_millis(1)), None);
        assert_eq!(Timestamp(u64::MAX).saturating_add(Duration::from_secs(1)), Timestamp(u64::MAX));
        assert_eq!(t.saturating_since(Timestamp(20_000)), Duration::ZERO);
        assert_eq!(Timestamp(20_000).saturating_since(t), Duration::from_secs(10));
    }
}

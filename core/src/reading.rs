//! One sensor reading.

use serde::{Deserialize, Serialize};

use crate::{ChannelId, Timestamp, Value};

/// Quality flags of a reading: a bit set, empty ([`Quality::GOOD`]) for a trustworthy value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Quality(pub u8);

impl Quality {
    /// Nothing to report: the value is good.
    pub const GOOD: Quality = Quality(0);
    /// The value is estimated or interpolated, not measured.
    pub const ESTIMATED: Quality = Quality(1 << 0);
    /// The sensor is warming up or calibrating.
    pub const CALIBRATING: Quality = Quality(1 << 1);
    /// The value is outside the sensor's rated range.
    pub const OUT_OF_RANGE: Quality = Quality(1 << 2);
    /// The sensor reported a fault; the value should not be used.
    pub const SENSOR_FAULT: Quality = Quality(1 << 3);
    /// The timestamp comes from an unsynchronised clock (e.g., time since boot).
    pub const CLOCK_UNSYNCED: Quality = Quality(1 << 4);
    /// The value was buffered offline and is delivered late.
    pub const DELAYED: Quality = Quality(1 << 5);

    /// True when no flag is set.
    pub const fn is_good(self) -> bool {
        self.0 == 0
    }

    /// True when every flag of `other` is set in `self`.
    pub const fn contains(self, other: Quality) -> bool {
        self.0 & other.0 == other.0
    }

    /// `self` with the flags of `other` added.
    #[must_use]
    pub const fn with(self, other: Quality) -> Quality {
        Quality(self.0 | other.0)
    }
}

/// A value read from one channel of a device at one time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Reading {
    /// The channel that produced it (see the device's [`ChannelSpec`](crate::ChannelSpec)).
    pub channel: ChannelId,
    /// When it was measured.
    pub at: Timestamp,
    /// What was measured.
    pub value: Value,
    /// How far to trust it.
    pub quality: Quality,
}

impl Reading {
    /// A reading of good quality.
    pub fn new(channel: ChannelId, at: Timestamp, value: impl Into<Value>) -> Self {
        Reading { channel, at, value: value.into(), quality: Quality::GOOD }
    }

    /// The same reading with quality flags set.
    #[must_use]
    pub fn with_quality(mut self, quality: Quality) -> Self {
        self.quality = quality;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_flags_combine() {
        let q = Quality::GOOD.with(Quality::ESTIMATED).with(Quality::DELAYED);
        assert!(!q.is_good());
        assert!(q.contains(Quality::ESTIMATED));
        assert!(!q.contains(Quality::SENSOR_FAULT));
        assert!(Reading::new(ChannelId(0), Timestamp(0), 1.0).quality.is_good());
    }
}

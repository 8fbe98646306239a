//! Device descriptors: what a device is and which channels it reports.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::{ChannelId, DeviceId, Name, Quantity, Unit};

/// The most channels one device descriptor lists.
pub const MAX_CHANNELS: usize = 16;
/// The most tags one device carries.
pub const MAX_TAGS: usize = 8;

/// A firmware version, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FirmwareVersion {
    /// Incompatible changes.
    pub major: u16,
    /// Compatible additions.
    pub minor: u16,
    /// Fixes.
    pub patch: u16,
}

impl FirmwareVersion {
    /// `major.minor.patch`.
    pub const fn new(major: u16, minor: u16, patch: u16) -> Self {
        FirmwareVersion { major, minor, patch }
    }
}

impl fmt::Display for FirmwareVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A label on a device (`site=greenhouse-2`, `floor=3`), used by rules to select devices.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Tag {
    /// The label's key.
    pub key: Name,
    /// The label's value.
    pub value: Name,
}

/// One channel of a device: what it measures, in which unit, and how often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChannelSpec {
    /// The number readings use to refer to it.
    pub id: ChannelId,
    /// Its name (`temperature`, `door`, `accel_x`), unique within the device; rules refer to it.
    pub name: Name,
    /// What it measures.
    pub quantity: Quantity,
    /// The unit of its values.
    pub unit: Unit,
    /// Its sampling period in milliseconds; 0 when it reports on change only.
    pub period_ms: u32,
}

/// Whether a device is connected: the message on its `status` route.
///
/// A device announces [`DeviceStatus::Online`] when it connects (the MQTT birth message),
/// [`DeviceStatus::Offline`] when it leaves on purpose, and its transport arranges for
/// [`DeviceStatus::Lost`] to be sent for it when it vanishes (the MQTT last will).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DeviceStatus {
    /// Connected.
    Online,
    /// Left on purpose (a clean disconnect, a planned sleep).
    Offline,
    /// Gone without saying so: the connection was lost.
    Lost,
}

/// What a device is: sent by the device when it comes online, kept by servers to interpret
/// its readings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Device {
    /// Its identity.
    pub id: DeviceId,
    /// Its hardware model (`th-sensor-v2`).
    pub model: Name,
    /// The firmware it runs.
    pub firmware: FirmwareVersion,
    /// The channels it reports; at most [`MAX_CHANNELS`].
    pub channels: heapless::Vec<ChannelSpec, MAX_CHANNELS>,
    /// Its labels; at most [`MAX_TAGS`].
    pub tags: heapless::Vec<Tag, MAX_TAGS>,
}

impl Device {
    /// The channel with this id.
    pub fn channel(&self, id: ChannelId) -> Option<&ChannelSpec> {
        self.channels.iter().find(|c| c.id == id)
    }

    /// The channel with this name.
    pub fn channel_named(&self, name: &str) -> Option<&ChannelSpec> {
        self.channels.iter().find(|c| c.name == name)
    }

    /// The value of the tag with this key.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|t| t.key == key).map(|t| t.value.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::bounded;

    #[test]
    fn lookup_by_id_name_and_tag() {
        let mut d = Device {
            id: DeviceId(7),
            model: bounded("model", "th-v2").unwrap(),
            firmware: FirmwareVersion::new(1, 2, 3),
            channels: heapless::Vec::new(),
            tags: heapless::Vec::new(),
        };
        d.channels
            .push(ChannelSpec {
                id: ChannelId(3),
                name: bounded("name", "temperature").unwrap(),
                quantity: Quantity::Temperature,
                unit: Unit::Celsius,
                period_ms: 1000,
            })
            .unwrap();
        d.tags.push(Tag { key: bounded("k", "site").unwrap(), value: bounded("v", "lab").unwrap() }).unwrap();
        assert_eq!(d.channel(ChannelId(3)).unwrap().name, "temperature");
        assert_eq!(d.channel_named("temperature").unwrap().id, ChannelId(3));
        assert!(d.channel(ChannelId(4)).is_none());
        assert_eq!(d.tag("site"), Some("lab"));
        assert_eq!(std::format!("{}", d.firmware), "1.2.3");
    }
}

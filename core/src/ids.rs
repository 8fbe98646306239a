//! Identifiers: devices, channels and commands.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The identity of a device: a 64-bit number (an EUI-64, a serial number, or any id a fleet
/// assigns), compact on the wire (a varint: ids below 128 take one byte).
///
/// Its text form is lowercase hexadecimal without leading zeros (`2a`, `4a30b001c2d3e`), which
/// is what `Display` prints, what JSON carries and what topic names use. Parsing also accepts
/// an optional `0x` prefix and EUI-64 separators (`00-04-a3-0b-00-1c-2d-3e`, `00:04:...`).
///
/// ```
/// use telemetra_core::DeviceId;
/// let id: DeviceId = "00-04-a3-0b-00-1c-2d-3e".parse().unwrap();
/// assert_eq!(id, DeviceId(0x0004_a30b_001c_2d3e));
/// assert_eq!(id.to_string(), "4a30b001c2d3e");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DeviceId(pub u64);

/// A text form could not be parsed as an identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ParseIdError {
    /// The text was empty (after removing a `0x` prefix and separators).
    #[error("device id is empty")]
    Empty,
    /// More than 16 hexadecimal digits.
    #[error("device id has more than 16 hex digits")]
    TooLong,
    /// A character that is not a hexadecimal digit or a separator.
    #[error("device id has a character that is not a hex digit at byte {at}")]
    BadDigit {
        /// Byte offset of the offending character.
        at: usize,
    },
}

impl FromStr for DeviceId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (offset, digits) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(rest) => (2, rest),
            None => (0, s),
        };
        let mut value: u64 = 0;
        let mut count = 0usize;
        let mut significant = 0usize;
        for (i, c) in digits.char_indices() {
            if c == '-' || c == ':' {
                continue;
            }
            let d = c.to_digit(16).ok_or(ParseIdError::BadDigit { at: offset + i })?;
            count += 1;
            if significant > 0 || d != 0 {
                significant += 1;
            }
            if significant > 16 {
                return Err(ParseIdError::TooLong);
            }
            value = (value << 4) | u64::from(d);
        }
        if count == 0 {
            return Err(ParseIdError::Empty);
        }
        Ok(DeviceId(value))
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({:x})", self.0)
    }
}

impl Serialize for DeviceId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() { s.collect_str(self) } else { s.serialize_u64(self.0) }
    }
}

impl<'de> Deserialize<'de> for DeviceId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = <&str>::deserialize(d)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            u64::deserialize(d).map(DeviceId)
        }
    }
}

/// A channel of a device: one sensor output or actuator input (temperature, door contact,
/// x-axis acceleration). Its name, quantity and unit are in the device's
/// [`ChannelSpec`](crate::ChannelSpec); readings carry only this small number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChannelId(pub u16);

/// Identifies a command so its acknowledgement can be matched to it. Chosen by the sender;
/// unique per target device for as long as the command may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CommandId(pub u32);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_id_text_round_trip() {
        for v in [0u64, 1, 42, 0x0004_a30b_001c_2d3e, u64::MAX] {
            let id = DeviceId(v);
            let s = std::string::ToString::to_string(&id);
            assert_eq!(s.parse::<DeviceId>().unwrap(), id);
        }
    }

    #[test]
    fn device_id_parse_errors_name_the_problem() {
        assert_eq!("".parse::<DeviceId>(), Err(ParseIdError::Empty));
        assert_eq!("0x".parse::<DeviceId>(), Err(ParseIdError::Empty));
        assert_eq!("12g4".parse::<DeviceId>(), Err(ParseIdError::BadDigit { at: 2 }));
        assert_eq!("1_0000_0000_0000_0000".parse::<DeviceId>(), Err(ParseIdError::BadDigit { at: 1 }));
        assert_eq!("10000000000000000".parse::<DeviceId>(), Err(ParseIdError::TooLong));
        assert_eq!("0000000000000000002a".parse::<DeviceId>(), Ok(DeviceId(42)));
    }

    #[test]
    fn device_id_is_text_in_json_and_varint_in_postcard() {
        let id = DeviceId(42);
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"2a\"");
        assert_eq!(serde_json::from_str::<DeviceId>("\"2a\"").unwrap(), id);
        assert_eq!(postcard::to_allocvec(&id).unwrap(), [42]);
    }
}

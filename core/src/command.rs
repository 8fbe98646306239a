//! Commands sent to devices, and their acknowledgements.

use serde::{Deserialize, Serialize};

use crate::{ChannelId, CommandId, FirmwareVersion, Name, Timestamp, Value};

/// The most channels one [`CommandAction::RequestReadings`] names.
pub const MAX_REQUESTED_CHANNELS: usize = 8;

/// Where and how to fetch a firmware image. The device verifies the SHA-256 digest before it
/// installs anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FirmwareOffer {
    /// The version offered.
    pub version: FirmwareVersion,
    /// Size of the image in bytes.
    pub size: u32,
    /// SHA-256 digest of the image.
    #[serde(with = "digest")]
    pub sha256: [u8; 32],
    /// Where to download it (at most 96 bytes).
    pub url: heapless::String<{ crate::text::URL_CAPACITY }>,
}

/// What a command asks a device to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CommandAction {
    /// Set a configuration value (`sample_period_ms = 5000`).
    SetConfig {
        /// The configuration key.
        key: Name,
        /// Its new value.
        value: Value,
    },
    /// Drive an actuator channel to a set point (valve to 40 %, relay on).
    Actuate {
        /// The actuator channel.
        channel: ChannelId,
        /// The set point.
        setpoint: Value,
    },
    /// Restart after a delay.
    Reboot {
        /// Milliseconds to wait before restarting.
        delay_ms: u32,
    },
    /// Send readings now; an empty list means every channel.
    RequestReadings {
        /// The channels wanted.
        channels: heapless::Vec<ChannelId, MAX_REQUESTED_CHANNELS>,
    },
    /// Offer a firmware update.
    FirmwareUpdate(FirmwareOffer),
}

/// A command to one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Command {
    /// Matches the acknowledgement to the command.
    pub id: CommandId,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// After this time the device must not act on it (it answers [`RejectReason::Expired`]).
    pub expires_at: Option<Timestamp>,
    /// What to do.
    pub action: CommandAction,
}

impl Command {
    /// True if the command has expired at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|e| now > e)
    }
}

/// Why a device refused a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RejectReason {
    /// The device does not implement this action.
    Unsupported,
    /// An argument was out of range or of the wrong type.
    InvalidArgument,
    /// The device is busy (e.g., already updating).
    Busy,
    /// The command arrived after its expiry.
    Expired,
    /// The sender is not allowed to issue it.
    Unauthorized,
}

/// The outcome of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CommandResult {
    /// Accepted; the work continues (a completion follows).
    Accepted,
    /// Done.
    Completed,
    /// Refused before any work was done.
    Rejected(RejectReason),
    /// Attempted and failed, with a device-specific error code.
    Failed(u16),
}

/// A device's answer to a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CommandAck {
    /// The command answered.
    pub command: CommandId,
    /// When the device answered.
    pub at: Timestamp,
    /// What happened.
    pub result: CommandResult,
}

/// A 32-byte digest as serde's fixed-size tuple (the bytes of wire version 1), read and written
/// in a loop: serde's own impl for `[u8; 32]` unrolls 32 element reads, which costs a firmware
/// about a kilobyte of flash.
mod digest {
    use core::fmt;

    use serde::de::{Error, SeqAccess, Visitor};
    use serde::ser::SerializeTuple;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(32)?;
        for b in bytes {
            t.serialize_element(b)?;
        }
        t.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        struct Digest;

        impl<'de> Visitor<'de> for Digest {
            type Value = [u8; 32];

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("32 bytes")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; 32], A::Error> {
                let mut out = [0u8; 32];
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = seq.next_element()?.ok_or_else(|| A::Error::invalid_length(i, &self))?;
                }
                Ok(out)
            }
        }

        d.deserialize_tuple(32, Digest)
    }
}

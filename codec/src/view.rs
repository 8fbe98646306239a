//! Frames read in place: the envelope parsed, the message left as bytes until it is asked for,
//! as the kind the receiver handles.
//!
//! [`Frame::decode`] builds an owned [`Frame`] (up to 1.3 KB, every message kind's decoder
//! linked): right for a server. A firmware reads a [`FrameView`] instead: parsing it reads
//! four varints, each typed accessor decodes only its own kind (so a node that handles
//! commands links the command decoder and nothing else), and readings come one at a time from
//! an iterator, so decoding never holds more than one reading on the stack.
//!
//! ```
//! use telemetra_codec::{FrameView, MessageKind, Frame, Message};
//! use telemetra_core::{ChannelId, DeviceId, Reading, Timestamp};
//!
//! let mut readings = heapless::Vec::new();
//! readings.push(Reading::new(ChannelId(1), Timestamp(1_700_000_000_000), 21.5)).unwrap();
//! let bytes = Frame::new(DeviceId(42), 7, Message::Readings(readings)).to_vec().unwrap();
//!
//! let view = FrameView::parse(&bytes).unwrap();
//! assert_eq!((view.device, view.seq, view.kind()), (DeviceId(42), 7, MessageKind::Readings));
//! for reading in view.readings().unwrap() {
//!     assert_eq!(reading.unwrap().channel, ChannelId(1));
//! }
//! assert!(view.command().is_err()); // not a command
//! ```

use serde::de::DeserializeOwned;
use telemetra_core::{Alert, Command, CommandAck, Device, DeviceId, DeviceStatus, Reading, Route};

use crate::batch::Batch;
use crate::error::DecodeError;
use crate::frame::{Frame, Heartbeat, MAX_READINGS, Message, RulePart, WIRE_VERSION};

/// The kind of message a frame carries: its tag on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum MessageKind {
    /// [`Message::Readings`].
    Readings = 0,
    /// [`Message::Command`].
    Command = 1,
    /// [`Message::Ack`].
    Ack = 2,
    /// [`Message::Alert`].
    Alert = 3,
    /// [`Message::DeviceInfo`].
    DeviceInfo = 4,
    /// [`Message::Rule`].
    Rule = 5,
    /// [`Message::Heartbeat`].
    Heartbeat = 6,
    /// [`Message::Status`] (version 2).
    Status = 7,
    /// [`Message::Batch`] (version 2).
    Batch = 8,
}

impl MessageKind {
    const ALL: [MessageKind; 9] = [
        MessageKind::Readings,
        MessageKind::Command,
        MessageKind::Ack,
        MessageKind::Alert,
        MessageKind::DeviceInfo,
        MessageKind::Rule,
        MessageKind::Heartbeat,
        MessageKind::Status,
        MessageKind::Batch,
    ];

    /// The kind with this wire tag.
    pub fn from_tag(tag: u32) -> Option<MessageKind> {
        MessageKind::ALL.get(usize::try_from(tag).ok()?).copied()
    }

    /// The lowest wire version that has this kind.
    pub const fn min_version(self) -> u8 {
        match self {
            MessageKind::Status | MessageKind::Batch => 2,
            _ => 1,
        }
    }

    /// The route this kind of message travels on: the one place that says so.
    ///
    /// | message | route |
    /// |---|---|
    /// | `Readings`, `Batch`, `Heartbeat` | `readings` |
    /// | `DeviceInfo` | `info` |
    /// | `Status` | `status` |
    /// | `Alert` | `alerts` |
    /// | `Command` | `commands` |
    /// | `Ack` | `acks` |
    /// | `Rule` | `rules` |
    pub const fn route_kind(self) -> telemetra_core::RouteKind {
        use telemetra_core::RouteKind as R;
        match self {
            MessageKind::Readings | MessageKind::Heartbeat | MessageKind::Batch => R::Readings,
            MessageKind::Command => R::Commands,
            MessageKind::Ack => R::Acks,
            MessageKind::Alert => R::Alerts,
            MessageKind::DeviceInfo => R::Info,
            MessageKind::Rule => R::Rules,
            MessageKind::Status => R::Status,
        }
    }
}

/// A frame whose envelope is parsed and whose message is still bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameView<'a> {
    /// The wire version the frame was written with.
    pub version: u8,
    /// The device it is from (or, for commands and rules, to).
    pub device: DeviceId,
    /// The sender's sequence number.
    pub seq: u32,
    kind: MessageKind,
    body: &'a [u8],
}

impl<'a> FrameView<'a> {
    /// Parses the envelope of the frame that fills `bytes`: version, device, sequence number
    /// and message kind. Allocates nothing and copies nothing.
    pub fn parse(bytes: &'a [u8]) -> Result<FrameView<'a>, DecodeError> {
        let (&version, rest) = bytes.split_first().ok_or(DecodeError::Empty)?;
        if !(1..=WIRE_VERSION).contains(&version) {
            return Err(DecodeError::UnsupportedVersion { found: version, supported: WIRE_VERSION });
        }
        // Read by hand (postcard's varints): no serde deserializer for the envelope.
        let mut input = crate::input::Input(rest);
        let (device, seq, tag) = (input.u64()?, input.u32()?, input.variant()?);
        let body = input.0;
        let kind = match MessageKind::from_tag(tag) {
            Some(kind) if kind.min_version() <= version => kind,
            _ => return Err(DecodeError::UnknownMessage { tag, version }),
        };
        Ok(FrameView { version, device: DeviceId(device), seq, kind, body })
    }

    /// What the frame carries.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    /// The route the frame belongs on (see [`Frame::route`]).
    pub fn route(&self) -> Route {
        Route::new(self.kind.route_kind(), self.device)
    }

    /// The message's bytes, undecoded.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    fn typed<T: DeserializeOwned>(&self, kind: MessageKind) -> Result<T, DecodeError> {
        if self.kind != kind {
            return Err(DecodeError::WrongKind { found: self.kind });
        }
        let (value, rest) = postcard::take_from_bytes::<T>(self.body)?;
        match rest.len() {
            0 => Ok(value),
            extra => Err(DecodeError::TrailingBytes { extra }),
        }
    }

    /// The readings, decoded one at a time.
    pub fn readings(&self) -> Result<Readings<'a>, DecodeError> {
        if self.kind != MessageKind::Readings {
            return Err(DecodeError::WrongKind { found: self.kind });
        }
        let (count, rest) = postcard::take_from_bytes::<u32>(self.body)?;
        if count as usize > MAX_READINGS {
            return Err(DecodeError::InvalidField);
        }
        Ok(Readings { rest, left: count, failed: false })
    }

    /// The command (read without serde's derived visitors: a node that takes commands links a
    /// third of their code).
    pub fn command(&self) -> Result<Command, DecodeError> {
        if self.kind != MessageKind::Command {
            return Err(DecodeError::WrongKind { found: self.kind });
        }
        crate::command_decoder::decode(self.body)
    }

    /// The command acknowledgement.
    pub fn ack(&self) -> Result<CommandAck, DecodeError> {
        self.typed(MessageKind::Ack)
    }

    /// The alert transition.
    pub fn alert(&self) -> Result<Alert, DecodeError> {
        self.typed(MessageKind::Alert)
    }

    /// The device descriptor.
    pub fn device_info(&self) -> Result<Device, DecodeError> {
        self.typed(MessageKind::DeviceInfo)
    }

    /// The rule of a rule set.
    pub fn rule(&self) -> Result<RulePart, DecodeError> {
        if self.kind != MessageKind::Rule {
            return Err(DecodeError::WrongKind { found: self.kind });
        }
        let (mut part, rest) = postcard::take_from_bytes::<RulePart>(self.body)?;
        // Since version 3, the count of its clearing condition follows the rule.
        let rest = match self.version {
            3.. => {
                let (n, rest) = postcard::take_from_bytes::<u16>(rest)?;
                part.rule.clear_repeat = n;
                rest
            }
            _ => rest,
        };
        match rest.len() {
            0 => Ok(part),
            extra => Err(DecodeError::TrailingBytes { extra }),
        }
    }

    /// Decodes the rule of a rule set into `rule`, where it lies, overwriting every field, and
    /// says where it belongs in its set. The same result as [`rule`](Self::rule) with a
    /// fraction of the stack: a firmware decodes into a boxed rule it hands to the engine.
    pub fn rule_into(&self, rule: &mut telemetra_core::Rule) -> Result<crate::RulePlace, DecodeError> {
        if self.kind != MessageKind::Rule {
            return Err(DecodeError::WrongKind { found: self.kind });
        }
        crate::rule_in_place::decode(self.body, self.version, rule)
    }

    /// The heartbeat.
    pub fn heartbeat(&self) -> Result<Heartbeat, DecodeError> {
        self.typed(MessageKind::Heartbeat)
    }

    /// The device status.
    pub fn status(&self) -> Result<DeviceStatus, DecodeError> {
        self.typed(MessageKind::Status)
    }

    /// The batch of compressed readings.
    pub fn batch(&self) -> Result<Batch, DecodeError> {
        self.typed(MessageKind::Batch)
    }

    /// The message, whatever its kind (links every kind's decoder).
    pub fn message(&self) -> Result<Message, DecodeError> {
        Ok(match self.kind {
            MessageKind::Readings => {
                let mut out = heapless::Vec::new();
                for r in self.readings()? {
                    // The count was checked against the capacity.
                    out.push(r?).map_err(|_| DecodeError::InvalidField)?;
                }
                Message::Readings(out)
            }
            MessageKind::Command => Message::Command(self.command()?),
            MessageKind::Ack => Message::Ack(self.ack()?),
            MessageKind::Alert => Message::Alert(self.alert()?),
            MessageKind::DeviceInfo => Message::DeviceInfo(self.device_info()?),
            MessageKind::Rule => Message::Rule(self.rule()?),
            MessageKind::Heartbeat => Message::Heartbeat(self.heartbeat()?),
            MessageKind::Status => Message::Status(self.status()?),
            MessageKind::Batch => Message::Batch(self.batch()?),
        })
    }

    /// The whole frame, owned.
    pub fn to_frame(&self) -> Result<Frame, DecodeError> {
        Ok(Frame::new(self.device, self.seq, self.message()?))
    }
}

/// The readings of a [`FrameView`], decoded as they are taken. After an error the iterator
/// ends; bytes after the last reading are an error too.
#[derive(Debug, Clone)]
pub struct Readings<'a> {
    rest: &'a [u8],
    left: u32,
    failed: bool,
}

impl Iterator for Readings<'_> {
    type Item = Result<Reading, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.left == 0 {
            if self.rest.is_empty() {
                return None;
            }
            self.failed = true;
            return Some(Err(DecodeError::TrailingBytes { extra: self.rest.len() }));
        }
        match postcard::take_from_bytes::<Reading>(self.rest) {
            Ok((r, rest)) => {
                self.rest = rest;
                self.left -= 1;
                Some(Ok(r))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e.into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arbitrary::frame;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn a_view_reads_what_decode_reads(f in frame()) {
            let bytes = f.to_vec().unwrap();
            let view = FrameView::parse(&bytes).unwrap();
            prop_assert_eq!(view.route(), f.route());
            let back = view.to_frame().unwrap();
            prop_assert_eq!(back.to_vec().unwrap(), bytes);
        }

        #[test]
        fn a_view_decodes_what_serde_decodes(bytes in proptest::collection::vec(any::<u8>(), 1..200), mutate in any::<bool>()) {
            // Half the cases start from a valid frame, so both paths get far.
            let mut bytes = bytes;
            if mutate {
                let f = Frame::new(DeviceId(u64::from(bytes[0])), 3, Message::Status(DeviceStatus::Lost));
                let mut valid = f.to_vec().unwrap();
                valid.extend_from_slice(&bytes[1..bytes.len().min(3)]);
                bytes = valid;
            }
            let via_view = FrameView::parse(&bytes).and_then(|v| v.to_frame());
            // The serde path: the whole `Frame` deserialized by postcard at once.
            let via_serde = match bytes.split_first() {
                Some((&v, body)) if (1..=WIRE_VERSION).contains(&v) => postcard::from_bytes::<Frame>(body).ok(),
                _ => None,
            };
            if let (Ok(a), Some(b)) = (&via_view, &via_serde) {
                prop_assert_eq!(a.to_vec().unwrap(), b.to_vec().unwrap());
            }
            if via_serde.is_none() {
                prop_assert!(via_view.is_err());
            }
        }
    }

    #[test]
    fn asking_for_another_kind_is_an_error() {
        let f = Frame::new(DeviceId(1), 0, Message::Status(DeviceStatus::Online));
        let bytes = f.to_vec().unwrap();
        let view = FrameView::parse(&bytes).unwrap();
        assert_eq!(view.command(), Err(DecodeError::WrongKind { found: MessageKind::Status }));
        assert_eq!(view.status(), Ok(DeviceStatus::Online));
    }
}

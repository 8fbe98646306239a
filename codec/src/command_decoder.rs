//! Commands read by hand: the same bytes as serde's derived decoder for [`Command`] (the
//! layout in the crate's README), a fraction of its code. On a Cortex-M4 the
//! derived visitors of `Command`, `CommandAction`, `Value`, `Location` and `FirmwareOffer`
//! cost about 3 KB of flash, half a node's codec budget; this costs a third of that. A
//! property test holds it to the serde decoder on random commands and on damaged bytes.

use telemetra_core::command::MAX_REQUESTED_CHANNELS;
use telemetra_core::value::Location;
use telemetra_core::{
    ChannelId, Command, CommandAction, CommandId, FirmwareOffer, FirmwareVersion, Timestamp, Value,
};

use crate::error::DecodeError;
use crate::input::Input;

impl Input<'_> {
    /// A [`Command`].
    pub(crate) fn command(&mut self) -> Result<Command, DecodeError> {
        let id = CommandId(self.u32()?);
        let issued_at = Timestamp(self.u64()?);
        let expires_at = if self.some()? { Some(Timestamp(self.u64()?)) } else { None };
        Ok(Command { id, issued_at, expires_at, action: self.command_action()? })
    }

    /// A [`CommandAction`] (also the action of a rule).
    pub(crate) fn command_action(&mut self) -> Result<CommandAction, DecodeError> {
        Ok(match self.variant()? {
            0 => CommandAction::SetConfig { key: self.string()?, value: self.value()? },
            1 => CommandAction::Actuate { channel: ChannelId(self.u16()?), setpoint: self.value()? },
            2 => CommandAction::Reboot { delay_ms: self.u32()? },
            3 => {
                let mut channels = heapless::Vec::new();
                for _ in 0..self.len(MAX_REQUESTED_CHANNELS)? {
                    // Within capacity: `len` checked it.
                    let _ = channels.push(ChannelId(self.u16()?));
                }
                CommandAction::RequestReadings { channels }
            }
            4 => {
                let version = FirmwareVersion::new(self.u16()?, self.u16()?, self.u16()?);
                let size = self.u32()?;
                let mut sha256 = [0u8; 32];
                for b in &mut sha256 {
                    *b = self.byte()?;
                }
                CommandAction::FirmwareUpdate(FirmwareOffer { version, size, sha256, url: self.string()? })
            }
            _ => return Err(DecodeError::InvalidField),
        })
    }

    /// A [`Value`].
    pub(crate) fn value(&mut self) -> Result<Value, DecodeError> {
        Ok(match self.variant()? {
            0 => Value::Number(self.number()?),
            1 => Value::Integer(self.i64()?),
            2 => Value::Bool(self.bool()?),
            3 => {
                let (lat, lon) = (self.number()?, self.number()?);
                let alt = if self.some()? { Some(self.number()?) } else { None };
                Value::Location(Location { lat, lon, alt })
            }
            4 => Value::State(self.string()?),
            _ => return Err(DecodeError::InvalidField),
        })
    }
}

/// Decodes the body of a `Command` message.
pub(crate) fn decode(body: &[u8]) -> Result<Command, DecodeError> {
    let mut input = Input(body);
    let command = input.command()?;
    input.finish()?;
    Ok(command)
}

#[cfg(test)]
mod tests {
    use crate::arbitrary::command;
    use crate::{Frame, FrameView, Message};
    use proptest::prelude::*;
    use telemetra_core::DeviceId;

    fn serde_decode(body: &[u8]) -> Result<telemetra_core::Command, crate::DecodeError> {
        let (command, rest) = postcard::take_from_bytes(body)?;
        match rest.len() {
            0 => Ok(command),
            extra => Err(crate::DecodeError::TrailingBytes { extra }),
        }
    }

    /// Commands hold NaN (`!=` itself): compare the encodings.
    fn same(a: &telemetra_core::Command, b: &telemetra_core::Command) -> bool {
        postcard::to_allocvec(a).unwrap() == postcard::to_allocvec(b).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn reads_what_serde_reads(c in command()) {
            let bytes = Frame::new(DeviceId(1), 2, Message::Command(c.clone())).to_vec().unwrap();
            let view = FrameView::parse(&bytes).unwrap();
            prop_assert!(same(&view.command().unwrap(), &c));
        }

        #[test]
        fn damaged_commands_fail_as_serde_fails(
            c in command(),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
            cut in any::<usize>(),
        ) {
            let mut body = postcard::to_allocvec(&c).unwrap();
            for (at, x) in flips {
                let i = at % body.len();
                body[i] ^= x;
            }
            body.truncate(cut % (body.len() + 1));
            let (ours, theirs) = (super::decode(&body), serde_decode(&body));
            prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?} vs {:?}", ours, theirs);
            if let (Ok(a), Ok(b)) = (&ours, &theirs) {
                prop_assert!(same(a, b));
            }
        }

        #[test]
        fn arbitrary_bytes_fail_as_serde_fails(body in proptest::collection::vec(any::<u8>(), 0..80)) {
            let (ours, theirs) = (super::decode(&body), serde_decode(&body));
            prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?} vs {:?}", ours, theirs);
        }
    }
}

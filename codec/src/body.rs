//! Encoding one kind of message without the others: what a firmware that sends readings,
//! acknowledgements and alerts links, instead of every message kind's encoder.
//!
//! [`Frame::encode`](crate::Frame::encode) serializes a whole [`Message`](crate::Message),
//! whatever its kind. [`encode_body`] writes the same bytes from the message's own type (a
//! [`Body`]), so only that type's encoder is linked, and readings go straight from a slice
//! ([`ReadingsBody`]) without building a fixed-capacity list first.
//!
//! ```
//! use telemetra_codec::{encode_body, Frame, Message, ReadingsBody};
//! use telemetra_core::{ChannelId, DeviceId, Reading, Timestamp};
//!
//! let readings = [Reading::new(ChannelId(1), Timestamp(1_700_000_000_000), 21.5)];
//! let mut buf = [0u8; 64];
//! let bytes = encode_body(DeviceId(42), 7, &ReadingsBody(&readings), &mut buf).unwrap();
//! let same = Frame::new(DeviceId(42), 7, Message::Readings(heapless::Vec::from_slice(&readings).unwrap()));
//! assert_eq!(bytes, &same.to_vec().unwrap()[..]);
//! ```

use serde::Serialize;
use serde::ser::SerializeTuple;
use telemetra_core::{Alert, Command, CommandAck, Device, DeviceId, DeviceStatus, Reading};

use crate::batch::Batch;
use crate::error::EncodeError;
use crate::frame::{Heartbeat, MAX_READINGS, RulePart};
use crate::view::MessageKind;

/// A message's own type, which knows its kind.
pub trait Body: Serialize {
    /// The kind of message it is.
    const KIND: MessageKind;

    /// Refuses what the wire format cannot carry (more readings than a frame holds).
    fn check(&self) -> Result<(), EncodeError> {
        Ok(())
    }

    /// The wire version the frame is written with: the lowest that carries this body.
    fn version(&self) -> u8 {
        Self::KIND.min_version()
    }
}

/// Readings from a slice: the body of a `Readings` message (at most 16).
#[derive(Debug, Clone, Copy)]
pub struct ReadingsBody<'a>(pub &'a [Reading]);

impl Serialize for ReadingsBody<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0)
    }
}

impl Body for ReadingsBody<'_> {
    const KIND: MessageKind = MessageKind::Readings;

    fn check(&self) -> Result<(), EncodeError> {
        match self.0.len() {
            n if n > MAX_READINGS => Err(EncodeError::TooManyReadings { count: n }),
            _ => Ok(()),
        }
    }
}

macro_rules! bodies {
    ($($ty:ty => $kind:ident),* $(,)?) => {
        $(impl Body for $ty {
            const KIND: MessageKind = MessageKind::$kind;
        })*
    };
}

bodies! {
    Command => Command,
    CommandAck => Ack,
    Alert => Alert,
    Device => DeviceInfo,
    Heartbeat => Heartbeat,
    DeviceStatus => Status,
    Batch => Batch,
}

impl Body for RulePart {
    const KIND: MessageKind = MessageKind::Rule;

    fn version(&self) -> u8 {
        self.needs_version()
    }
}

/// The envelope after the version byte, then the body: postcard's encoding of a frame.
struct Envelope<'b, B: ?Sized> {
    device: DeviceId,
    seq: u32,
    body: &'b B,
}

impl<B: Body + ?Sized> Serialize for Envelope<'_, B> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(4)?;
        t.serialize_element(&self.device)?;
        t.serialize_element(&self.seq)?;
        // postcard writes an enum's variant index as a varint `u32`.
        t.serialize_element(&(B::KIND as u32))?;
        t.serialize_element(self.body)?;
        t.end()
    }
}

/// Encodes a frame carrying `body` into `buf` and returns the bytes written: the same bytes as
/// [`Frame::encode`](crate::Frame::encode) of the equivalent frame. Needs no allocator.
pub fn encode_body<'b, B: Body + ?Sized>(
    device: DeviceId,
    seq: u32,
    body: &B,
    buf: &'b mut [u8],
) -> Result<&'b mut [u8], EncodeError> {
    body.check()?;
    // What would suffice is known per message kind (see `limits`); more than this buffer.
    let too_small = EncodeError::BufferTooSmall { available: buf.len(), needed: buf.len() + 1 };
    let (version, rest) = buf.split_first_mut().ok_or(too_small)?;
    *version = body.version();
    let len =
        match postcard::serialize_with_flavor(&Envelope { device, seq, body }, Bytes { buf: rest, len: 0 }) {
            Ok(len) => len,
            Err(postcard::Error::SerializeBufferFull) => return Err(too_small),
            Err(_) => return Err(EncodeError::Unencodable),
        };
    Ok(&mut buf[..=len])
}

/// postcard's `Slice` flavor without its bulk copy: strings go in byte by byte (they are short),
/// so a firmware that only encodes links no `memcpy` (730 bytes on a Cortex-M4) for them.
struct Bytes<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl postcard::ser_flavors::Flavor for Bytes<'_> {
    /// The bytes written.
    type Output = usize;

    #[inline]
    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        let slot = self.buf.get_mut(self.len).ok_or(postcard::Error::SerializeBufferFull)?;
        *slot = byte;
        self.len += 1;
        Ok(())
    }

    fn finalize(self) -> postcard::Result<usize> {
        Ok(self.len)
    }
}

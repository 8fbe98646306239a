//! The versioned frame envelope and its messages.
//!
//! A frame is one version byte followed by the postcard encoding of `(device, seq, message)`.
//! The layout is written down in the crate's README and pinned by golden byte vectors in the
//! tests: changing it is a version change, never an accident.
//!
//! Versions only add: version 1 has kinds 0 to 6, version 2 adds `Status` (7) and `Batch`
//! (8), version 3 adds a rule's `clear_repeat` after the rule. A frame is written with the
//! lowest version that carries it, so a version 1 receiver still reads every readings,
//! command or rule frame this build writes that it can honour, and refuses (by version) a rule
//! it could not.

use serde::{Deserialize, Serialize};
use telemetra_core::{
    Alert, Command, CommandAck, Device, DeviceId, DeviceStatus, Reading, Route, RouteKind, Rule,
};

use crate::batch::Batch;
use crate::body::{ReadingsBody, encode_body};
use crate::error::{DecodeError, EncodeError};
use crate::limits;
use crate::view::{FrameView, MessageKind};

/// The newest wire-format version this build writes and reads (it reads every one from 1).
pub const WIRE_VERSION: u8 = 3;

/// The most readings one frame carries; more go in further frames (or in a
/// [`batch`](crate::batch)).
pub const MAX_READINGS: usize = 16;

/// Liveness and health of a device, sent periodically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Heartbeat {
    /// Milliseconds since the device booted.
    pub uptime_ms: u64,
    /// Battery state of charge in percent, for battery-powered devices.
    pub battery_pct: Option<u8>,
    /// Received signal strength in dBm, for radio links.
    pub rssi_dbm: Option<i8>,
}

/// One rule of a rule set being pushed to a device. A rule set travels as `count` frames, one
/// rule each, so that no frame (and no firmware buffer) has to hold a whole rule set.
///
/// A rule whose clearing condition has a count ([`Rule::clear_repeat`] not 0; the rule
/// language writes `times 1` as 0) is written as a version 3 frame with that count after the
/// rule; any other rule is the version 1 body, which every receiver reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RulePart {
    /// The version of the rule set this rule belongs to.
    pub set_version: u32,
    /// This rule's position in the set, from 0.
    pub index: u8,
    /// How many rules the set has.
    pub count: u8,
    /// The rule.
    pub rule: Rule,
}

impl Serialize for RulePart {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let extended = self.needs_version() >= 3;
        let mut st = s.serialize_struct("RulePart", 4 + usize::from(extended))?;
        st.serialize_field("set_version", &self.set_version)?;
        st.serialize_field("index", &self.index)?;
        st.serialize_field("count", &self.count)?;
        st.serialize_field("rule", &self.rule)?;
        if extended {
            st.serialize_field("clear_repeat", &self.rule.clear_repeat)?;
        }
        st.end()
    }
}

impl RulePart {
    /// The lowest wire version that carries this rule: 3 if it sets
    /// [`Rule::clear_repeat`] (not 0), else 1.
    pub const fn needs_version(&self) -> u8 {
        if self.rule.clear_repeat != 0 { 3 } else { 1 }
    }

    /// Where the rule belongs in its set.
    pub fn place(&self) -> crate::RulePlace {
        crate::RulePlace { set_version: self.set_version, index: self.index, count: self.count }
    }
}

/// What a frame carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Message {
    /// Readings of the device's channels (at most [`MAX_READINGS`]).
    Readings(heapless::Vec<Reading, MAX_READINGS>),
    /// A command to the device.
    Command(Command),
    /// The device's answer to a command.
    Ack(CommandAck),
    /// An alert transition.
    Alert(Alert),
    /// The device's descriptor.
    DeviceInfo(Device),
    /// One rule of a rule set.
    Rule(RulePart),
    /// A liveness signal.
    Heartbeat(Heartbeat),
    /// Whether the device is connected (birth, clean leave, last will). Since version 2.
    Status(DeviceStatus),
    /// Compressed readings of several channels (see [`batch::pack`](crate::batch)). Since
    /// version 2.
    Batch(Batch),
}

impl Message {
    /// An upper bound on this kind of message's encoded size, in bytes (see [`limits`]).
    pub const fn max_encoded_len(&self) -> usize {
        match self {
            Message::Readings(_) => limits::READINGS_MSG,
            Message::Command(_) => limits::COMMAND_MSG,
            Message::Ack(_) => limits::ACK_MSG,
            Message::Alert(_) => limits::ALERT_MSG,
            Message::DeviceInfo(_) => limits::DEVICE_MSG,
            Message::Rule(_) => limits::RULE_MSG,
            Message::Heartbeat(_) => limits::HEARTBEAT_MSG,
            Message::Status(_) => limits::STATUS_MSG,
            Message::Batch(_) => limits::BATCH_MSG,
        }
    }

    /// Its kind: its tag on the wire, its route ([`MessageKind::route_kind`]) and the lowest
    /// wire version that has it ([`MessageKind::min_version`]).
    pub const fn kind(&self) -> MessageKind {
        match self {
            Message::Readings(_) => MessageKind::Readings,
            Message::Command(_) => MessageKind::Command,
            Message::Ack(_) => MessageKind::Ack,
            Message::Alert(_) => MessageKind::Alert,
            Message::DeviceInfo(_) => MessageKind::DeviceInfo,
            Message::Rule(_) => MessageKind::Rule,
            Message::Heartbeat(_) => MessageKind::Heartbeat,
            Message::Status(_) => MessageKind::Status,
            Message::Batch(_) => MessageKind::Batch,
        }
    }

    /// The route this kind of message travels on (the table is at
    /// [`MessageKind::route_kind`]).
    pub const fn route_kind(&self) -> RouteKind {
        self.kind().route_kind()
    }

    /// The lowest wire version that carries this message: its kind's
    /// ([`MessageKind::min_version`]), or later for a rule that uses a later field
    /// ([`RulePart::needs_version`]).
    pub const fn min_version(&self) -> u8 {
        match self {
            Message::Rule(part) => part.needs_version(),
            _ => self.kind().min_version(),
        }
    }
}

/// The envelope: who sent it, its place in the sender's sequence, and the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Frame {
    /// The device the frame is from (or, for commands and rules, to).
    pub device: DeviceId,
    /// The sender's sequence number; it wraps around. Receivers use it to spot loss and
    /// duplicates.
    pub seq: u32,
    /// The payload.
    pub message: Message,
}

impl Frame {
    /// A frame.
    pub fn new(device: DeviceId, seq: u32, message: Message) -> Self {
        Frame { device, seq, message }
    }

    /// The route this frame travels on: its message's route kind, for its device (the sender,
    /// or for commands and rules the target).
    pub const fn route(&self) -> Route {
        Route::new(self.message.route_kind(), self.device)
    }

    /// An upper bound on this frame's encoded size; a buffer this large always suffices.
    pub const fn max_encoded_len(&self) -> usize {
        limits::ENVELOPE + self.message.max_encoded_len()
    }

    /// Encodes the frame into `buf` and returns the bytes written. Needs no allocator.
    pub fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b mut [u8], EncodeError> {
        let (d, s) = (self.device, self.seq);
        let needed = self.max_encoded_len();
        match &self.message {
            Message::Readings(r) => encode_body(d, s, &ReadingsBody(r), buf),
            Message::Command(c) => encode_body(d, s, c, buf),
            Message::Ack(a) => encode_body(d, s, a, buf),
            Message::Alert(a) => encode_body(d, s, a, buf),
            Message::DeviceInfo(i) => encode_body(d, s, i, buf),
            Message::Rule(r) => encode_body(d, s, r, buf),
            Message::Heartbeat(h) => encode_body(d, s, h, buf),
            Message::Status(st) => encode_body(d, s, st, buf),
            Message::Batch(b) => encode_body(d, s, b, buf),
        }
        .map_err(|e| match e {
            EncodeError::BufferTooSmall { available, .. } => {
                EncodeError::BufferTooSmall { available, needed }
            }
            e => e,
        })
    }

    /// Encodes the frame into a new `Vec`.
    #[cfg(feature = "alloc")]
    pub fn to_vec(&self) -> Result<alloc::vec::Vec<u8>, EncodeError> {
        let mut out = alloc::vec![0u8; self.max_encoded_len()];
        let len = self.encode(&mut out)?.len();
        out.truncate(len);
        Ok(out)
    }

    /// Decodes one frame that fills `bytes` exactly (through a [`FrameView`]).
    ///
    /// Never panics; allocates nothing; every collection is bounded by its capacity. A
    /// firmware that handles a few kinds reads a [`FrameView`] instead and links only those.
    pub fn decode(bytes: &[u8]) -> Result<Frame, DecodeError> {
        FrameView::parse(bytes)?.to_frame()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arbitrary::frame;
    use proptest::prelude::*;
    use telemetra_core::{ChannelId, Timestamp, Value};

    fn one_reading(value: f64) -> Frame {
        let mut readings = heapless::Vec::new();
        readings.push(Reading::new(ChannelId(1), Timestamp(1_700_000_000_000), value)).unwrap();
        Frame::new(DeviceId(42), 7, Message::Readings(readings))
    }

    #[test]
    fn a_single_reading_frame_is_small() {
        let mut buf = [0u8; 64];
        assert_eq!(one_reading(21.5).encode(&mut buf).unwrap().len(), 17);
        assert_eq!(one_reading(0.1 + 0.2).encode(&mut buf).unwrap().len(), 23);
    }

    #[test]
    fn errors_name_what_was_wrong() {
        let mut buf = [0u8; 64];
        let bytes = one_reading(21.5).encode(&mut buf).unwrap().to_vec();
        assert_eq!(Frame::decode(&[]), Err(DecodeError::Empty));
        let mut v7 = bytes.clone();
        v7[0] = 7;
        let err = Frame::decode(&v7).unwrap_err();
        assert_eq!(err, DecodeError::UnsupportedVersion { found: 7, supported: 3 });
        assert_eq!(
            std::string::ToString::to_string(&err),
            "frame version 7 is not supported (this build reads 1 to 3)"
        );
        assert_eq!(Frame::decode(&bytes[..bytes.len() - 1]), Err(DecodeError::Truncated));
        let mut long = bytes.clone();
        long.extend_from_slice(&[0, 0]);
        assert_eq!(Frame::decode(&long), Err(DecodeError::TrailingBytes { extra: 2 }));
        let mut bad_kind = bytes.clone();
        bad_kind[3] = 99; // the message tag
        assert_eq!(Frame::decode(&bad_kind), Err(DecodeError::UnknownMessage { tag: 99, version: 1 }));
        bad_kind[3] = 7; // Status: version 2 only
        assert_eq!(Frame::decode(&bad_kind), Err(DecodeError::UnknownMessage { tag: 7, version: 1 }));
        let mut bad_varint = std::vec![1u8];
        bad_varint.extend_from_slice(&[0xff; 11]);
        assert_eq!(Frame::decode(&bad_varint), Err(DecodeError::BadVarint));
    }

    #[test]
    fn too_many_readings_are_refused_not_allocated() {
        // 17 well-formed readings: the capacity is 16.
        let mut bytes = std::vec![1u8, 42, 7, 0, 17];
        for _ in 0..17 {
            bytes.extend_from_slice(&[0, 0, 2, 0, 0]);
        }
        assert_eq!(Frame::decode(&bytes), Err(DecodeError::InvalidField));
        bytes[4] = 16;
        bytes.truncate(bytes.len() - 5);
        assert!(Frame::decode(&bytes).is_ok());
    }

    #[test]
    fn small_buffers_are_reported() {
        let mut buf = [0u8; 8];
        let f = one_reading(21.5);
        assert_eq!(
            f.encode(&mut buf).unwrap_err(),
            EncodeError::BufferTooSmall { available: 8, needed: f.max_encoded_len() }
        );
        assert!(matches!(f.encode(&mut []), Err(EncodeError::BufferTooSmall { .. })));
    }

    #[test]
    fn state_values_survive() {
        let mut readings = heapless::Vec::new();
        let state = Value::State(telemetra_core::text::bounded("state", "heating").unwrap());
        readings.push(Reading::new(ChannelId(2), Timestamp(5), state)).unwrap();
        let f = Frame::new(DeviceId(1), 0, Message::Readings(readings));
        assert_eq!(Frame::decode(&f.to_vec().unwrap()).unwrap(), f);
    }

    #[test]
    fn each_frame_has_the_lowest_version_of_its_kind() {
        let mut buf = [0u8; 64];
        assert_eq!(one_reading(1.0).encode(&mut buf).unwrap()[0], 1);
        let status = Frame::new(DeviceId(1), 0, Message::Status(DeviceStatus::Lost));
        assert_eq!(status.encode(&mut buf).unwrap(), &[2, 1, 0, 7, 2]);
        assert_eq!(status.route(), Route::new(RouteKind::Status, DeviceId(1)));
        assert_eq!(Frame::decode(&[2, 1, 0, 7, 2]).unwrap(), status);
        // A version 1 frame still decodes, and version 2 reads all of version 1's kinds.
        let mut v2 = one_reading(1.0).to_vec().unwrap();
        v2[0] = 2;
        assert_eq!(Frame::decode(&v2).unwrap(), one_reading(1.0));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn every_message_round_trips_within_its_bound(f in frame()) {
            let mut buf = [0u8; limits::MAX_FRAME];
            let len = f.encode(&mut buf).unwrap().len();
            prop_assert!(len <= f.max_encoded_len(), "{} > {}", len, f.max_encoded_len());
            let back = Frame::decode(&buf[..len]).unwrap();
            // NaN != NaN, so compare the encodings.
            let mut again = [0u8; limits::MAX_FRAME];
            prop_assert_eq!(back.encode(&mut again).unwrap().len(), len);
            prop_assert_eq!(&again[..len], &buf[..len]);
            prop_assert_eq!(f.to_vec().unwrap(), buf[..len].to_vec());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Frame::decode(&bytes);
        }

        #[test]
        fn mutated_frames_never_panic(f in frame(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
            let mut bytes = f.to_vec().unwrap();
            for (at, x) in flips {
                let i = at % bytes.len();
                bytes[i] ^= x;
            }
            if let Ok(back) = Frame::decode(&bytes) {
                prop_assert!(back.to_vec().unwrap().len() <= limits::MAX_FRAME);
            }
        }
    }
}

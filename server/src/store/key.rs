//! What makes a frame the same as one stored before.

use telemetra_codec::{Frame, Message};

/// The digest that, with its device and sequence number, identifies `frame` among those stored;
/// `None` for a frame that is not deduplicated (a status: every transport numbers its birth,
/// last will and goodbye 0, and setting a status again changes nothing but its time).
///
/// A frame delivered again is the same bytes, so the same digest; a device that restarted and
/// numbers its frames from 0 again sends other content under the old numbers (other readings,
/// other timestamps), so other digests. FNV-1a (64 bits) over the frame's encoding: two
/// different frames of one device under one sequence number collide once in 2^64.
pub(crate) fn frame_digest(frame: &Frame) -> Option<i64> {
    if matches!(frame.message, Message::Status(_)) {
        return None;
    }
    let bytes = frame.to_vec().unwrap_or_default();
    let hash = bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
    Some(i64::from_ne_bytes(hash.to_ne_bytes()))
}

#[cfg(test)]
mod tests {
    use telemetra_core::{ChannelId, DeviceId, DeviceStatus, Reading, Timestamp};

    use super::*;

    fn readings(seq: u32, at: u64) -> Frame {
        let r = Reading::new(ChannelId(1), Timestamp(at), 1.5);
        Frame::new(DeviceId(7), seq, Message::Readings([r].into_iter().collect()))
    }

    #[test]
    fn a_redelivery_has_the_digest_a_restarted_device_does_not() {
        assert_eq!(frame_digest(&readings(3, 1_000)), frame_digest(&readings(3, 1_000)));
        assert_ne!(frame_digest(&readings(3, 1_000)), frame_digest(&readings(3, 9_000)));
        let online = Frame::new(DeviceId(7), 0, Message::Status(DeviceStatus::Online));
        assert_eq!(frame_digest(&online), None);
    }
}

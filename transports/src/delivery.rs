//! Handing a received payload to the caller's buffer, the one way every transport does it.

use telemetra_codec::{Frame, Message as FrameMessage};
use telemetra_core::{Delivery, DeviceId, DeviceStatus, Route};

/// The payload did not fit the caller's buffer (the message is dropped).
pub(crate) struct TooSmall {
    pub needed: usize,
    pub available: usize,
}

/// Copies `payload` into the front of `buf` and describes it.
pub(crate) fn copy_out(route: Route, payload: &[u8], buf: &mut [u8]) -> Result<Delivery, TooSmall> {
    match buf.get_mut(..payload.len()) {
        Some(dst) => {
            dst.copy_from_slice(payload);
            Ok(Delivery { route, len: payload.len() })
        }
        None => Err(TooSmall { needed: payload.len(), available: buf.len() }),
    }
}

/// The encoded status frame of `device` (sequence number 0): a device's birth (`Online`),
/// last will (`Lost`) and goodbye (`Offline`) on every transport.
pub fn status_frame(device: DeviceId, status: DeviceStatus) -> Vec<u8> {
    let frame = Frame::new(device, 0, FrameMessage::Status(status));
    let mut buf = [0u8; 16];
    // A status frame is at most 1 + 10 + 1 + 1 + 1 bytes.
    frame.encode(&mut buf).map(|b| b.to_vec()).unwrap_or_default()
}

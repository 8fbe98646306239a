//! Handing a received payload to the caller's buffer, the one way every transport does it.

use telemetra_core::{Delivery, Route};

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

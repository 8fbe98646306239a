//! Codec frames over any [`Transport`]: a frame goes along the route its message belongs to
//! (readings to `readings`, a command to the target device's `commands`, ...), and frames
//! come back decoded. `no_std`, no allocation: the encode buffer lives on the stack.
//!
//! ```
//! # #[cfg(feature = "std")] {
//! use telemetra::codec::{Frame, Message, limits};
//! use telemetra::frames::{receive_frame, send_frame};
//! use telemetra::transports::memory::MemoryHub;
//! use telemetra::{DeviceId, RouteFilter, RouteKind, Transport};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let hub = MemoryHub::new(8);
//! let (mut server, mut device) = (hub.connect(), hub.connect());
//! server.subscribe(RouteFilter::kind(RouteKind::Readings)).await.unwrap();
//! let frame = Frame::new(DeviceId(7), 1, Message::Readings(Default::default()));
//! send_frame(&mut device, &frame).await.unwrap();
//! let mut buf = [0u8; limits::MAX_FRAME];
//! let (route, got) = receive_frame(&mut server, &mut buf).await.unwrap();
//! assert_eq!((route.kind, got), (RouteKind::Readings, frame));
//! # });
//! # }
//! ```

use telemetra_codec::{DecodeError, EncodeError, Frame, Message, limits};
use telemetra_core::{Route, RouteKind, Transport};

/// The route a message travels on.
pub fn route_kind(message: &Message) -> RouteKind {
    match message {
        Message::Readings(_) | Message::Heartbeat(_) => RouteKind::Readings,
        Message::Command(_) => RouteKind::Commands,
        Message::Ack(_) => RouteKind::Acks,
        Message::Alert(_) => RouteKind::Alerts,
        Message::DeviceInfo(_) => RouteKind::Info,
        Message::Rule(_) => RouteKind::Rules,
    }
}

/// An error of sending or receiving a frame.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameLinkError<E> {
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(E),
    /// The frame could not be encoded.
    #[error("encode: {0}")]
    Encode(EncodeError),
    /// A message arrived that is not a valid frame; it was dropped (the next one is fine).
    #[error("undecodable frame on {route:?}: {error}")]
    Decode {
        /// Where it came from.
        route: Route,
        /// Why it was refused.
        error: DecodeError,
    },
}

/// Encodes `frame` and sends it along its route (`frame.device` is the sender, or for
/// commands and rules the target).
pub async fn send_frame<T: Transport>(t: &mut T, frame: &Frame) -> Result<(), FrameLinkError<T::Error>> {
    let mut buf = [0u8; limits::MAX_FRAME];
    let bytes = frame.encode(&mut buf).map_err(FrameLinkError::Encode)?;
    let route = Route::new(route_kind(&frame.message), frame.device);
    t.send(route, bytes).await.map_err(FrameLinkError::Transport)
}

/// Waits for the next message and decodes it; `buf` should hold [`limits::MAX_FRAME`] bytes.
pub async fn receive_frame<T: Transport>(
    t: &mut T,
    buf: &mut [u8],
) -> Result<(Route, Frame), FrameLinkError<T::Error>> {
    let d = t.receive(buf).await.map_err(FrameLinkError::Transport)?;
    match Frame::decode(&buf[..d.len]) {
        Ok(frame) => Ok((d.route, frame)),
        Err(error) => Err(FrameLinkError::Decode { route: d.route, error }),
    }
}

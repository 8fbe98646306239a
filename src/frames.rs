//! Frames over any transport: a frame goes along the route its message belongs to
//! ([`Frame::route`]: readings to `readings`, a command to the target device's `commands`,
//! status to `status`, ...), and frames come back decoded and checked against the route they
//! arrived on. The functions work on firmware (`no_std`, no allocation: the encode buffer is
//! on the stack); with `std`, [`stream`] and [`sink`] give the `futures` interfaces.
//!
//! ```
//! # #[cfg(feature = "std")] {
//! use telemetra::prelude::*;
//! use telemetra::codec::limits;
//! use telemetra::transports::memory::MemoryHub;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let hub = MemoryHub::new(8);
//! let (mut server, mut device) = (hub.connect(), hub.connect());
//! server.subscribe(RouteFilter::kind(RouteKind::Readings)).await.unwrap();
//! let frame = Frame::new(DeviceId(7), 1, Message::Readings(Default::default()));
//! send_frame(&mut device, &frame).await.unwrap();
//! let mut buf = [0u8; limits::MAX_FRAME];
//! assert_eq!(receive_frame(&mut server, &mut buf).await.unwrap(), frame);
//! # });
//! # }
//! ```

use telemetra_codec::{DecodeError, EncodeError, Frame, limits};
use telemetra_core::transport::{LocalReceiver, LocalSender};
use telemetra_core::{Delivery, Route};

/// A frame could not be sent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError<E> {
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(E),
    /// The frame could not be encoded.
    #[error("encode: {0}")]
    Encode(EncodeError),
}

/// A message could not be received as a frame. Only [`ReceiveError::Transport`] says anything
/// about the transport; after the others, the next message is received as usual.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiveError<E> {
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(E),
    /// A message arrived that is not a valid frame; it was dropped.
    #[error("undecodable frame on {}: {error}", route.topic())]
    Decode {
        /// Where it came from.
        route: Route,
        /// Why it was refused.
        error: DecodeError,
    },
    /// A valid frame arrived on a route other than its own (another device's, or another
    /// kind's): it was dropped, since the route is what a broker's ACL vouches for.
    #[error("frame for {} arrived on {}", frame.topic(), route.topic())]
    Misrouted {
        /// Where it came from.
        route: Route,
        /// The route the frame names.
        frame: Route,
    },
}

impl<E> ReceiveError<E> {
    /// True when the transport failed (the others drop one message and nothing else).
    pub fn is_transport(&self) -> bool {
        matches!(self, ReceiveError::Transport(_))
    }
}

/// Decodes a delivered message and checks it against the route it came on.
pub fn decode_delivery<E>(delivery: Delivery, buf: &[u8]) -> Result<Frame, ReceiveError<E>> {
    let route = delivery.route;
    let frame = Frame::decode(&buf[..delivery.len]).map_err(|error| ReceiveError::Decode { route, error })?;
    if frame.route() != route {
        return Err(ReceiveError::Misrouted { route, frame: frame.route() });
    }
    Ok(frame)
}

/// Encodes `frame` and sends it along its route ([`Frame::route`]).
pub async fn send_frame<S: LocalSender>(tx: &mut S, frame: &Frame) -> Result<(), SendError<S::Error>> {
    let mut buf = [0u8; limits::MAX_FRAME];
    let bytes = frame.encode(&mut buf).map_err(SendError::Encode)?;
    tx.send(frame.route(), bytes).await.map_err(SendError::Transport)
}

/// Like [`send_frame`], and returns when the transport's peer confirmed it (see
/// [`LocalSender::send_acked`]).
pub async fn send_frame_acked<S: LocalSender>(tx: &mut S, frame: &Frame) -> Result<(), SendError<S::Error>> {
    let mut buf = [0u8; limits::MAX_FRAME];
    let bytes = frame.encode(&mut buf).map_err(SendError::Encode)?;
    tx.send_acked(frame.route(), bytes).await.map_err(SendError::Transport)
}

/// Waits for the next message and decodes it; `buf` should hold [`limits::MAX_FRAME`] bytes.
pub async fn receive_frame<R: LocalReceiver>(
    rx: &mut R,
    buf: &mut [u8],
) -> Result<Frame, ReceiveError<R::Error>> {
    let d = rx.receive(buf).await.map_err(ReceiveError::Transport)?;
    decode_delivery(d, buf)
}

/// The next frame if a message is waiting, without waiting.
pub fn try_receive_frame<R: LocalReceiver>(
    rx: &mut R,
    buf: &mut [u8],
) -> Result<Option<Frame>, ReceiveError<R::Error>> {
    match rx.try_receive(buf).map_err(ReceiveError::Transport)? {
        Some(d) => decode_delivery(d, buf).map(Some),
        None => Ok(None),
    }
}

/// The frames a receiver gets, as a `futures` [`Stream`](futures_core::Stream) that never
/// ends on a bad frame: an undecodable or misrouted message is an `Err` item (log it and go
/// on); a transport error is an `Err` item too, and the stream ends after
/// [`ErrorKind::Closed`](crate::transport::ErrorKind::Closed).
///
/// ```
/// use futures_util::StreamExt;
/// use telemetra::prelude::*;
/// use telemetra::transports::memory::MemoryHub;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let hub = MemoryHub::new(8);
/// let (mut server, mut device) = (hub.connect(), hub.connect());
/// server.subscribe(RouteFilter::ALL).await.unwrap();
/// let (_tx, rx) = server.split();
/// let mut frames = std::pin::pin!(telemetra::frames::stream(rx));
/// device.send(Route::new(RouteKind::Readings, DeviceId(1)), b"junk").await.unwrap();
/// send_frame(&mut device, &Frame::new(DeviceId(1), 0, Message::Status(DeviceStatus::Online))).await.unwrap();
/// assert!(frames.next().await.unwrap().is_err()); // the junk, skipped
/// assert_eq!(frames.next().await.unwrap().unwrap().route().kind, RouteKind::Status);
/// # });
/// ```
#[cfg(feature = "std")]
pub fn stream<R>(rx: R) -> impl futures_core::Stream<Item = Result<Frame, ReceiveError<R::Error>>> + Send
where
    R: telemetra_core::transport::Receiver + 'static,
{
    use telemetra_core::transport::{ErrorKind, TransportError};
    let state = Some((rx, vec![0u8; limits::MAX_FRAME]));
    futures_util::stream::unfold(state, |state| async move {
        let (mut rx, mut buf) = state?;
        let item = match telemetra_core::transport::Receiver::receive(&mut rx, &mut buf).await {
            Ok(d) => decode_delivery(d, &buf),
            Err(e) if e.kind() == ErrorKind::Closed => return None,
            Err(e) => Err(ReceiveError::Transport(e)),
        };
        if let Err(e) = &item {
            tracing::warn!(error = %e, "frame dropped");
        }
        Some((item, Some((rx, buf))))
    })
}

/// Frames into a sender, as a `futures` [`Sink`](futures_sink::Sink): each frame is encoded
/// and sent along its route with [`send`](telemetra_core::transport::Sender::send).
#[cfg(feature = "std")]
pub fn sink<S>(tx: S) -> impl futures_sink::Sink<Frame, Error = SendError<S::Error>> + Send
where
    S: telemetra_core::transport::Sender + 'static,
{
    futures_util::sink::unfold(tx, |mut tx, frame: Frame| async move {
        let mut buf = vec![0u8; frame.max_encoded_len()];
        let bytes = frame.encode(&mut buf).map_err(SendError::Encode)?;
        telemetra_core::transport::Sender::send(&mut tx, frame.route(), bytes)
            .await
            .map_err(SendError::Transport)?;
        Ok(tx)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use telemetra_codec::Message;
    use telemetra_core::{DeviceId, DeviceStatus, RouteKind};

    #[test]
    fn a_frame_on_another_route_is_refused() {
        let frame = Frame::new(DeviceId(2), 0, Message::Status(DeviceStatus::Online));
        let (route, bytes) = (frame.route(), frame.to_vec().unwrap());
        assert_eq!(route, Route::new(RouteKind::Status, DeviceId(2)));
        let spoofed = Delivery { route: Route::new(RouteKind::Status, DeviceId(3)), len: bytes.len() };
        let e = decode_delivery::<std::convert::Infallible>(spoofed, &bytes).unwrap_err();
        assert_eq!(e, ReceiveError::Misrouted { route: spoofed.route, frame: route });
        assert_eq!(e.to_string(), "frame for tm/v1/2/status arrived on tm/v1/3/status");
        let ok = Delivery { route, len: bytes.len() };
        assert_eq!(decode_delivery::<std::convert::Infallible>(ok, &bytes).unwrap(), frame);
    }
}

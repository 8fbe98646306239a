//! What can go wrong on a serial link.

use telemetra_core::{ErrorKind, TransportError};

/// An error of the serial transport.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SerialError {
    /// The URL is not `serial:///path?settings` or a setting is unknown.
    #[error("bad serial URL: {0}")]
    BadUrl(String),
    /// The port could not be opened or set up.
    #[error("serial port {path}: {why}")]
    Io {
        /// The device's path (or "stream").
        path: String,
        /// What the system said.
        why: String,
    },
    /// The outbox is full (the link is down or slower than the application): not queued.
    #[error("the serial outbox is full")]
    QueueFull,
    /// The payload is over the link's largest (the peer's, if smaller).
    #[error("a payload of {len} bytes is over the link's largest ({max})")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The largest taken.
        max: usize,
    },
    /// The caller's buffer is too small for the frame received; the frame was dropped.
    #[error("a frame of {needed} bytes does not fit the buffer of {available}")]
    BufferTooSmall {
        /// The frame's length.
        needed: usize,
        /// The buffer's.
        available: usize,
    },
    /// The link was closed (or its stream ended) before the operation completed.
    #[error("the serial link is closed")]
    Closed,
}

impl SerialError {
    pub(super) fn io(path: &str, e: &std::io::Error) -> SerialError {
        SerialError::Io { path: path.to_string(), why: e.to_string() }
    }
}

impl TransportError for SerialError {
    fn kind(&self) -> ErrorKind {
        match self {
            SerialError::BadUrl(_) | SerialError::TooLarge { .. } => ErrorKind::Config,
            SerialError::Io { .. } => ErrorKind::NotConnected,
            SerialError::QueueFull => ErrorKind::QueueFull,
            SerialError::BufferTooSmall { .. } => ErrorKind::BufferTooSmall,
            SerialError::Closed => ErrorKind::Closed,
        }
    }
}

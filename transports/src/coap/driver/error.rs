//! The one error of the CoAP driver and transport.

use telemetra_core::{ErrorKind, TransportError};

use crate::coap::Code;
use crate::coap::block::transfer::TransferError;

/// An error of the CoAP driver or transport.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoapError {
    /// Not a `coap://host[:port]` URL.
    #[error("not a coap://host[:port] URL: {0:?}")]
    BadUrl(String),
    /// Plaintext CoAP to a host outside loopback without the opt-in (`allow_plaintext`).
    #[error("plaintext CoAP to {0} would expose data; use OSCORE or coaps+tcp://, or set allow_plaintext")]
    PlaintextRefused(String),
    /// OSCORE refused a response or could not protect a request.
    #[cfg(feature = "oscore")]
    #[error("OSCORE: {0}")]
    Oscore(crate::coap::oscore::OscoreError),
    /// A certificate, key or server name that TLS cannot use.
    #[error("CoAP over TLS: {0}")]
    Tls(String),
    /// The socket failed.
    #[error("CoAP socket, {op}: {reason}")]
    Io {
        /// What was being done ("bind", "resolve", ...).
        op: &'static str,
        /// What the system said.
        reason: String,
    },
    /// No acknowledgement after every retransmission, or no response in time.
    #[error("the CoAP peer did not answer in time")]
    TimedOut,
    /// The peer reset the request (RST): it could not process it.
    #[error("the CoAP peer reset the request")]
    Reset,
    /// The peer answered with an error code.
    #[error("the CoAP peer answered {} {}", .0, .0.name())]
    Refused(Code),
    /// A block-wise transfer broke off.
    #[error(transparent)]
    Transfer(#[from] TransferError),
    /// The request cannot be built (an option or payload too long).
    #[error("the CoAP request cannot be built: {0}")]
    Build(String),
    /// A bounded queue is full; the message was not taken.
    #[error("the CoAP queue is full")]
    QueueFull,
    /// The driver was closed.
    #[error("the CoAP endpoint is closed")]
    Closed,
    /// The received message does not fit the buffer; it was dropped.
    #[error("message of {needed} bytes does not fit the {available}-byte buffer; it was dropped")]
    BufferTooSmall {
        /// The message's size.
        needed: usize,
        /// The buffer's size.
        available: usize,
    },
    /// A route filter a CoAP device cannot observe (it names no single device and kind).
    #[error("a CoAP device observes one route at a time; the filter names {0}")]
    Filter(&'static str),
}

impl CoapError {
    pub(crate) fn io(op: &'static str, e: &std::io::Error) -> CoapError {
        CoapError::Io { op, reason: e.to_string() }
    }
}

impl TransportError for CoapError {
    fn kind(&self) -> ErrorKind {
        match self {
            CoapError::BadUrl(_)
            | CoapError::PlaintextRefused(_)
            | CoapError::Filter(_)
            | CoapError::Tls(_) => ErrorKind::Config,
            CoapError::Io { .. } => ErrorKind::Other,
            CoapError::TimedOut => ErrorKind::TimedOut,
            CoapError::Reset | CoapError::Transfer(_) => ErrorKind::Protocol,
            #[cfg(feature = "oscore")]
            CoapError::Oscore(_) => ErrorKind::Refused,
            CoapError::Refused(code) if *code == Code::SERVICE_UNAVAILABLE => ErrorKind::QueueFull,
            CoapError::Refused(_) => ErrorKind::Refused,
            CoapError::Build(_) => ErrorKind::Other,
            CoapError::QueueFull => ErrorKind::QueueFull,
            CoapError::Closed => ErrorKind::Closed,
            CoapError::BufferTooSmall { .. } => ErrorKind::BufferTooSmall,
        }
    }
}

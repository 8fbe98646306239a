//! What can go wrong on NATS.

use telemetra_core::transport::{ErrorKind, TransportError};

use crate::store::StoreError;

/// A NATS or JetStream operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NatsError {
    /// The NATS connection or a JetStream request failed (the client reconnects by itself;
    /// the operation may be tried again).
    #[error("nats: {0}")]
    Nats(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl NatsError {
    pub(crate) fn nats(e: impl core::fmt::Display) -> NatsError {
        NatsError::Nats(e.to_string())
    }
}

impl TransportError for NatsError {
    fn kind(&self) -> ErrorKind {
        match self {
            NatsError::Nats(_) => ErrorKind::ConnectionLost,
            NatsError::Store(_) => ErrorKind::Other,
        }
    }
}

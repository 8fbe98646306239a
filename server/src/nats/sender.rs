//! Commands back to devices through NATS.

use telemetra_core::Route;
use telemetra_core::transport::{ErrorType, Sender};

use super::NatsError;
use super::partition::subject;

/// The sending half the pipeline sends commands with: each on its route's plain subject
/// (`tm.v1.{device}.commands`), which a device connected to NATS's MQTT listener receives as
/// `tm/v1/{device}/commands`.
#[derive(Debug, Clone)]
pub struct NatsSender {
    client: async_nats::Client,
}

impl NatsSender {
    /// Sends on `client`.
    pub fn new(client: async_nats::Client) -> NatsSender {
        NatsSender { client }
    }
}

impl ErrorType for NatsSender {
    type Error = NatsError;
}

impl Sender for NatsSender {
    async fn send(&mut self, route: Route, payload: &[u8]) -> Result<(), NatsError> {
        self.client.publish(subject(route), payload.to_vec().into()).await.map_err(NatsError::nats)
    }

    /// Returns when the NATS server has the message (a flush: core NATS confirms no single
    /// message; a device's acknowledgement comes later on its `acks` route).
    async fn send_acked(&mut self, route: Route, payload: &[u8]) -> Result<(), NatsError> {
        self.send(route, payload).await?;
        self.client.flush().await.map_err(NatsError::nats)
    }

    async fn close(&mut self) -> Result<(), NatsError> {
        self.client.flush().await.map_err(NatsError::nats)
    }
}

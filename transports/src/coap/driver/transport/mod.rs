//! telemetra on CoAP: the [`Transport`](telemetra_core::Transport) contract over UDP, using
//! the one route scheme of [`telemetra_core::route`] as resource paths.
//!
//! | route kind | resource | device does | server does |
//! |---|---|---|---|
//! | `readings`, `info`, `status`, `alerts`, `acks` | `/tm/v1/{device}/{kind}` | POST (CON) a frame | answers 2.04 once the frame is queued for `receive` |
//! | `commands`, `rules` | `/tm/v1/{device}/{kind}` | GET with Observe 0 (`subscribe`) | notifies each frame `send` gives it, confirmable, one at a time |
//! | `info`, `status` (retained) | `/tm/v1/{device}/{kind}` | — | answers a plain GET with the last frame |
//!
//! The server is a CoAP server ([`CoapServer`], `Role::Server` binds `coap://host:port`); a
//! device is a CoAP client of it ([`CoapDevice`]). Every POST is confirmable: `send` returns
//! once the frame is in the device's outbox, which sends one frame at a time and retries a
//! frame the server did not answer (offline buffering: nothing is dropped while the server is
//! away, the outbox just fills); `send_acked` returns when the server answered 2.04. The
//! server answers a POST to a route nobody subscribed to with 4.04 and one it cannot queue with
//! 5.03 (Max-Age 1: the device retries). A frame the server `send`s to a device waits until
//! the device observes its route; `send_acked` there returns when the device acknowledged the
//! confirmable notification: a command's CoAP acknowledgement is its delivery receipt (the
//! device's own `CommandAck` frame still follows on `acks`). A device re-registers its
//! observations when the server drops them, and when Max-Age passes without a notification
//! (RFC 7641 §3.3.1), so a server that restarts finds its observers again.
//!
//! A device's status: `Online` is its first frame, `Offline` its last (on `close`).
//!
//! The same runs over TCP and TLS (`coap+tcp://`, `coaps+tcp://`, RFC 8323): no message
//! layer there (the stream is reliable), so the server's `send_acked` follows the notification
//! with a Ping carrying Custody and returns on the device's Pong (it answers once it has
//! processed what came before). With OSCORE (feature `oscore`: `DeviceConfig`'s
//! `client.oscore`, `ServerConfig::oscore`, one context per device), every request, response
//! and notification over UDP is protected end to end, and the server takes nothing else.

mod device;
mod server;

pub use device::{CoapDevice, CoapDeviceReceiver, CoapDeviceSender, DeviceConfig};
pub use server::{BeforeAck, CoapServer, CoapServerReceiver, CoapServerSender, KeepFrame, ServerConfig};

use telemetra_core::{Delivery, Route};
use tokio::sync::mpsc;

use super::CoapError;

/// The resource path of `route` (`tm/v1/{device}/{kind}`).
pub(crate) fn path_of(route: Route) -> String {
    route.topic().to_string()
}

/// The frames a task received, waiting for `receive`.
#[derive(Debug)]
pub(crate) struct Inbox(pub(crate) mpsc::Receiver<(Route, Vec<u8>)>);

impl Inbox {
    /// Waits for the next frame and copies it into `buf`.
    pub(crate) async fn receive(&mut self, buf: &mut [u8]) -> Result<Delivery, CoapError> {
        let (route, payload) = self.0.recv().await.ok_or(CoapError::Closed)?;
        copy_out(route, &payload, buf)
    }

    /// The next frame if one is waiting.
    pub(crate) fn try_receive(&mut self, buf: &mut [u8]) -> Result<Option<Delivery>, CoapError> {
        match self.0.try_recv() {
            Ok((route, payload)) => copy_out(route, &payload, buf).map(Some),
            Err(_) => Ok(None),
        }
    }
}

/// Hands a received frame to the caller's buffer.
fn copy_out(route: Route, payload: &[u8], buf: &mut [u8]) -> Result<Delivery, CoapError> {
    crate::delivery::copy_out(route, payload, buf)
        .map_err(|t| CoapError::BufferTooSmall { needed: t.needed, available: t.available })
}

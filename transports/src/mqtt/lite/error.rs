//! Why the lite client refused a call.

use crate::mqtt::packet::PacketError;

/// Why [`LiteClient`](super::LiteClient) refused to publish, subscribe or connect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LiteError {
    /// The in-flight window or the output buffer is full: write the output, handle the input
    /// (acknowledgements free the window), then try again.
    #[error("the in-flight window or the output buffer is full")]
    Busy,
    /// No connection is up (no CONNACK yet, or it was lost).
    #[error("not connected")]
    NotConnected,
    /// The packet is larger than the client's buffers or the broker's Maximum Packet Size.
    #[error("the packet is larger than the buffers or the broker's maximum packet size")]
    TooLarge,
    /// The packet cannot be encoded (an invalid topic or filter, say).
    #[error("the packet cannot be encoded: {0}")]
    Packet(PacketError),
}

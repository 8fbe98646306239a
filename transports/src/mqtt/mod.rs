//! MQTT 3.1.1 and 5.0: the types an application uses are here; the layers are modules.
//!
//! - [`client`]: the sans-IO client (`no_std` + `alloc`): sessions, QoS 0/1/2 both ways, keep
//!   alive, the in-flight window, redelivery, resubscription, the offline queue;
//! - `driver` (feature `tokio`): [`MqttClient`] runs the client on TCP or TLS with reconnects;
//! - `transport` (feature `tokio`): [`MqttTransport`], the telemetra transport contract on the
//!   route topics;
//! - [`lite`]: a small client for microcontrollers (no allocator, fixed buffers);
//! - [`packet`]: the packet codecs; [`topic`]: topic validation and matching; [`reason`]: reason
//!   codes.
//!
//! ```
//! use telemetra_transports::mqtt::{Message, QoS};
//! let m = Message::new("tm/v1/2a/readings", vec![1, 2, 3]).with_qos(QoS::AtLeastOnce);
//! assert_eq!(m.qos, QoS::AtLeastOnce);
//! ```

pub mod client;
#[cfg(feature = "tokio")]
pub mod driver;
pub mod lite;
pub mod packet;
pub mod reason;
pub mod topic;
#[cfg(feature = "tokio")]
pub mod transport;

pub use client::{Client, ClientError, Event, Message, Options, Outcome, Password};
#[cfg(feature = "tokio")]
pub use driver::{Config, MqttClient};
pub use packet::PacketError;
pub use packet::publish::{QoS, Version};
pub use reason::ReasonCode;
#[cfg(feature = "tokio")]
pub use transport::{MqttError, MqttTransport};

#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod frames;
pub mod prelude;

/// The model that firmware and servers share: devices, readings, values, commands, alerts,
/// the rule model, routes (`telemetra-core`).
pub use telemetra_core as model;

/// The transport contract every transport implements (`telemetra-core`): local traits for
/// firmware, `Send` ones for servers, the portable [`ErrorKind`](transport::ErrorKind).
pub use telemetra_core::transport;

/// The wire format: frames, stream framing, batches, SenML (`telemetra-codec`).
pub use telemetra_codec as codec;

/// The rule language and engine (`telemetra-rules`).
pub use telemetra_rules as rules;

/// Transports (`telemetra-transports`): in-process memory, MQTT (feature `mqtt`, TLS with
/// `tls`), and [`Link`](transports::link::Link), which picks one by URL.
#[cfg(feature = "std")]
pub use telemetra_transports as transports;

/// MQTT: the sans-IO [`Client`](mqtt::Client) and, for microcontrollers, the allocation-free
/// [`LiteClient`](mqtt::lite::LiteClient) (feature `mqtt-client`, `no_std`), with
/// `std` the tokio driver `MqttClient` and `MqttTransport`; [`Options`](mqtt::Options),
/// [`Message`](mqtt::Message), [`QoS`](mqtt::QoS); the packet codecs in
/// [`packet`](mqtt::packet).
#[cfg(feature = "mqtt-client")]
pub use telemetra_transports::mqtt;

/// The fixed-capacity collections of the model's public fields, re-exported so that users build
/// them with the same version.
pub use telemetra_core::heapless;

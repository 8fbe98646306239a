//! **A device sends a reading** (on a microcontroller the same types and frames work without
//! `std`: see the Firmware section below):
//!
//! ```
//! use telemetra::model::FirmwareVersion;
//! use telemetra::prelude::*;
//!
//! # #[cfg(feature = "std")]
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let me = DeviceId(7);
//!     let mut link = Link::open("memory://demo", Role::Device(me)).await?; // or "mqtts://broker:8883"
//!     // Once: what this device is, so that servers know its channels by name.
//!     let temperature = ChannelSpec {
//!         id: ChannelId(1),
//!         name: "temperature".try_into()?,
//!         quantity: Quantity::Temperature,
//!         unit: Unit::Celsius,
//!         period_ms: 10_000,
//!     };
//!     let info = Device {
//!         id: me,
//!         model: "th-sensor".try_into()?,
//!         firmware: FirmwareVersion::new(1, 0, 0),
//!         channels: [temperature].into_iter().collect(),
//!         tags: Default::default(),
//!     };
//!     send_frame(&mut link, &Frame::new(me, 0, Message::DeviceInfo(info))).await?;
//!     // Then its readings.
//!     let reading = Reading::new(ChannelId(1), Timestamp(1_700_000_000_000), 31.5);
//!     send_frame(&mut link, &Frame::new(me, 1, Message::Readings([reading].into_iter().collect()))).await?;
//!     Ok(())
//! }
//! # #[cfg(not(feature = "std"))]
//! # fn main() {}
//! ```
//!
//! **A server receives it and runs a rule:**
//!
//! ```
//! use telemetra::prelude::*;
//!
//! # #[cfg(feature = "std")]
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let mut link = Link::open("memory://demo", Role::Server("collector")).await?;
//!     link.subscribe(RouteFilter::kind(RouteKind::Info)).await?;
//!     link.subscribe(RouteFilter::kind(RouteKind::Readings)).await?;
//!     let mut engine = Engine::new(EngineConfig::default());
//!     engine.load(telemetra::rules::parse(r#"rule hot: when temperature > 30 then alert major "Hot""#)?)?;
//! #   tokio::spawn(device());
//!     let (mut buf, mut events) = ([0u8; 1024], Vec::new());
//!     // A server loops for ever; this one stops after the device's two frames.
//!     for _ in 0..2 {
//!         let frame = receive_frame(&mut link, &mut buf).await?;
//!         engine.ingest_frame(&frame, Timestamp(0), &mut events);
//!     }
//!     for event in &events {
//!         println!("{event:?}"); // Alert(Alert { rule: "hot", device: DeviceId(7), state: Raised, .. })
//!     }
//! #   assert!(matches!(&events[..], [Event::Alert(a)] if a.rule == "hot" && a.state == AlertState::Raised));
//!     Ok(())
//! }
//! # #[cfg(feature = "std")]
//! # async fn device() {
//! #     use telemetra::model::FirmwareVersion;
//! #     let me = DeviceId(7);
//! #     let mut link = Link::open("memory://demo", Role::Device(me)).await.unwrap();
//! #     let channels = [ChannelSpec { id: ChannelId(1), name: "temperature".try_into().unwrap(), quantity: Quantity::Temperature, unit: Unit::Celsius, period_ms: 10_000 }];
//! #     let info = Device { id: me, model: "th".try_into().unwrap(), firmware: FirmwareVersion::new(1, 0, 0), channels: channels.into_iter().collect(), tags: Default::default() };
//! #     send_frame(&mut link, &Frame::new(me, 0, Message::DeviceInfo(info))).await.unwrap();
//! #     let reading = Reading::new(ChannelId(1), Timestamp(1_700_000_000_000), 31.5);
//! #     send_frame(&mut link, &Frame::new(me, 1, Message::Readings([reading].into_iter().collect()))).await.unwrap();
//! # }
//! # #[cfg(not(feature = "std"))]
//! # fn main() {}
//! ```
//!
#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]
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
/// `tls`), CoAP (feature `coap`), serial (feature `serial`), and
/// [`Link`](transports::link::Link), which picks one by URL.
#[cfg(feature = "std")]
pub use telemetra_transports as transports;

/// MQTT: the sans-IO [`Client`](mqtt::Client) and, for microcontrollers, the allocation-free
/// [`LiteClient`](mqtt::lite::LiteClient) (feature `mqtt-client`, `no_std`), with
/// `std` the tokio driver `MqttClient` and `MqttTransport`; [`Options`](mqtt::Options),
/// [`Message`](mqtt::Message), [`QoS`](mqtt::QoS); the packet codecs in
/// [`packet`](mqtt::packet).
#[cfg(feature = "mqtt-client")]
pub use telemetra_transports::mqtt;

/// CoAP (RFC 7252, 7641, 7959): the sans-IO [`Client`](coap::client::Client) and
/// [`Server`](coap::server::Server) (feature `coap-core`, `no_std`, no allocation), with `std`
/// the tokio driver [`CoapClient`](coap::driver::CoapClient) and the transport on CoAP.
#[cfg(feature = "coap-core")]
pub use telemetra_transports::coap;

/// Serial links: the sans-IO [`ReliableLink`](serial::reliable::ReliableLink) (feature
/// `serial-link`, `no_std`, no allocation), with `serial` (Unix) the host port and the
/// transport on it (`serial:///dev/ttyUSB0?baud=115200`).
#[cfg(feature = "serial-link")]
pub use telemetra_transports::serial;

/// Signed firmware updates (feature `update`, `no_std`): [`Manifest`](update::Manifest),
/// [`Download`](update::Download), [`boot`](update::boot) and [`confirm`](update::confirm).
#[cfg(feature = "update")]
pub use telemetra_update as update;

/// The server side (feature `server`): the provisioning service
/// ([`Provisioner`](server::provision::Provisioner)).
#[cfg(feature = "server")]
pub use telemetra_server as server;

/// The fixed-capacity collections of the model's public fields, re-exported so that users build
/// them with the same version.
pub use telemetra_core::heapless;

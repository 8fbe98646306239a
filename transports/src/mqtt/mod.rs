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
//!
//! # Defaults
//!
//! Every limit and wait, what it is by default, and why. `Options` is [`client::Options`],
//! `Queue` its [`client::QueueOptions`]; `Config` and `Backoff` are the driver's.
//!
//! | setting | default | why |
//! |---|---|---|
//! | `Options::version` | MQTT 5 | reason codes, Receive Maximum, message expiry |
//! | `Options::keep_alive` | 30 s | a dead link is found within 30–60 s; a PINGREQ only when quiet |
//! | `Options::session_expiry` | 3,600 s | QoS 1/2 messages and subscriptions survive an hour's outage |
//! | `Options::max_in_flight` | 100 | throughput on MQTT 5; the broker's Receive Maximum (CONNACK) lowers it |
//! | `Options::v3_in_flight` | 20 | 3.1.1 has no Receive Maximum; mosquitto 2.0.11 acknowledges and then drops QoS 2 beyond its `max_inflight_messages` of 20 (1,352 of 2,000 arrived with 100) |
//! | `Options::receive_maximum` | 64 | QoS 2 messages from the broker awaiting release, announced on MQTT 5; a broker that sends more is not disconnected: the excess is taken and counted (`Stats::receive_maximum_exceeded`), bounded by the 65,535 packet ids (128 KiB) |
//! | `Options::maximum_packet_size` | 1 MiB | larger packets from the broker are refused (Packet Too Large) |
//! | `Options::topic_alias_maximum` | 16 | aliases the broker may use towards us |
//! | `Options::connect_timeout_ms` | 10 s | wait for CONNACK |
//! | `Options::max_received` | 1,024 messages | received and unread: the client stops reading the connection (back pressure, no loss) |
//! | `Options::max_events` | 1,024 events | an application that reads events loses none (the connection waits); one that never reads keeps the latest 1,024, the rest counted (`Stats::events_dropped`) |
//! | `Queue::capacity` | 1,024 messages | the offline queue: published while offline or while the window is full |
//! | `Queue::max_bytes` | 1 MiB (topics and payloads) | a larger message is refused at once (`RejectReason::TooLarge`) |
//! | `Queue::expiry` | none | a message's own expiry (MQTT 5 property) still applies |
//! | `Queue::when_full` | `Reject` | nothing is lost silently; `DropOldest` for latest-value telemetry |
//! | `Config::open_timeout` | 10 s | TCP connect and TLS handshake |
//! | `Config::publish_timeout` | 30 s | `publish().await` waits this long for room in a full queue, then hands the message back |
//! | `Config::shutdown_timeout` | 10 s | `disconnect()` waits this long for QoS 1/2 acknowledgements |
//! | `Backoff` | 200 ms doubling to 30 s, half of each drawn at random | a fleet that lost its broker does not return in one wave |
//! | `Backoff::stable_after` | 10 s | the delays start afresh only after a connection stayed up this long (a broker that drops right after CONNACK is not hammered) |

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

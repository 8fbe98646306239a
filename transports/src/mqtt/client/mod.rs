//! The sans-IO MQTT client: a state machine that turns the application's calls and the bytes
//! the broker sends into the bytes to send back and events. It does no I/O and reads no clock:
//! the caller passes the time (milliseconds, any epoch) and moves the bytes, so the same code
//! runs under tokio (see the `tokio` driver), on an embassy executor or in a test.
//!
//! The contract:
//! 1. [`Client::connect`] when a new byte stream (TCP, TLS, ...) to the broker is open;
//! 2. feed what arrives to [`Client::handle_input`], and send what [`Client::take_output`]
//!    gives;
//! 3. call [`Client::handle_timeout`] at [`Client::next_timeout`];
//! 4. when the stream fails or closes, call [`Client::connection_lost`], then reconnect (with a
//!    back-off) and go to 1: the session, its in-flight messages and subscriptions carry over;
//! 5. read [`Client::poll_event`] and [`Client::poll_message`].
//!
//! ```
//! use telemetra_transports::mqtt::client::{Client, Event, Message, Options};
//! use telemetra_transports::mqtt::packet::connect::Connack;
//! use telemetra_transports::mqtt::packet::publish::{Ack, AckKind, QoS, Version};
//!
//! let mut client = Client::new(Options::new("node-2a"));
//! let id = client.publish(Message::new("tm/v1/2a/readings", [1, 2, 3]).with_qos(QoS::AtLeastOnce), 0).unwrap();
//!
//! client.connect(0);
//! let mut wire = Vec::new();
//! client.take_output(&mut wire); // CONNECT: send it to the broker
//! assert_eq!(wire[0], 0x10);
//!
//! // The broker answers.
//! let mut buf = [0u8; 16];
//! let n = Connack::default().encode(Version::V5, &mut buf).unwrap();
//! client.handle_input(&buf[..n], 5).unwrap();
//! assert_eq!(client.poll_event(), Some(Event::Connected { session_present: false }));
//!
//! wire.clear();
//! client.take_output(&mut wire); // the queued PUBLISH, packet id 1
//! assert_eq!(wire[0], 0x32);
//! let n = Ack::success(AckKind::Puback, 1).encode(Version::V5, &mut buf).unwrap();
//! client.handle_input(&buf[..n], 9).unwrap();
//! assert_eq!(client.poll_event(), Some(Event::Delivered(id)));
//! ```

mod event;
mod inbound;
mod message;
mod options;
mod outbox;
mod packet_ids;
mod session;

pub use event::{ClientError, Event, LinkError, Outcome, RejectReason, Rejected, SizeLimit};
pub use message::{Message, Properties, Received};
pub use options::{FullPolicy, Options, Password, QueueOptions};
pub use outbox::MessageId;
pub use session::Stats;

pub use session::Client;

#[cfg(test)]
mod tests;

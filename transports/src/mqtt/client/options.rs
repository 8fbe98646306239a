//! How a client connects: identity, credentials, will, session, limits and the offline queue.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::message::Message;
use crate::mqtt::packet::publish::Version;

/// A password: its bytes never appear in `Debug` output or logs, and are overwritten with
/// zeros when it is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(Vec<u8>);

impl Drop for Password {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl Password {
    /// Wraps a password.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Password(bytes.into())
    }

    /// The password's bytes, for the CONNECT packet.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// What the offline queue does with a message when it is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FullPolicy {
    /// Refuse the new message and hand it back to the caller (nothing is lost silently).
    #[default]
    Reject,
    /// Take the new message and drop the oldest queued one (an [`Event::Dropped`] says which):
    /// for telemetry where the latest value matters most.
    ///
    /// [`Event::Dropped`]: super::Event::Dropped
    DropOldest,
}

/// The offline queue: messages published while disconnected, or while the in-flight window is
/// full, wait here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueOptions {
    /// The most messages it holds.
    pub capacity: usize,
    /// The most bytes (topics and payloads) it holds.
    pub max_bytes: usize,
    /// Seconds a message without its own expiry may wait before it is dropped (`None`: forever).
    pub expiry: Option<u32>,
    /// What happens when it is full.
    pub when_full: FullPolicy,
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions { capacity: 1024, max_bytes: 1 << 20, expiry: None, when_full: FullPolicy::Reject }
    }
}

/// Connection options. `Options::new(client_id)` gives MQTT 5, a 30 s keep alive, a session
/// kept for an hour, and no credentials (there are no default credentials anywhere).
///
/// ```
/// use telemetra_transports::mqtt::client::{Options, Password};
///
/// let mut o = Options::new("node-2a");
/// o.username = Some("node-2a".into());
/// o.password = Some(Password::new("per-device secret"));
/// assert!(!format!("{o:?}").contains("per-device secret"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// MQTT 3.1.1 or 5.0.
    pub version: Version,
    /// The client identifier; empty asks the server to assign one (kept for reconnects).
    pub client_id: String,
    /// Seconds between control packets; a PINGREQ goes out when the link is quiet that long,
    /// and the connection counts as dead when no PINGRESP comes within the same time. 0
    /// disables keep alive.
    pub keep_alive: u16,
    /// Start a new session on the first connection (reconnects always resume, when the
    /// session outlives the connection).
    pub clean_start: bool,
    /// MQTT 5: seconds the broker keeps the session after a disconnect (0: it ends with the
    /// connection). On 3.1.1 a non-zero value means `clean_session = 0` on every connect.
    pub session_expiry: u32,
    /// The user name.
    pub username: Option<String>,
    /// The password.
    pub password: Option<Password>,
    /// The last will: published by the broker when this client vanishes without DISCONNECT.
    pub will: Option<Message>,
    /// MQTT 5: seconds the broker waits before publishing the will.
    pub will_delay: Option<u32>,
    /// A message published on every connection before anything queued (a "birth" message:
    /// typically the retained `online` that the will's `offline` undoes).
    pub birth: Option<Message>,
    /// How many QoS 2 messages from the broker may await release at once (MQTT 5 Receive
    /// Maximum this client announces).
    pub receive_maximum: u16,
    /// QoS 1 and 2 messages this client keeps in flight at most (the broker's Receive Maximum
    /// lowers it further; on MQTT 3.1.1, [`Options::v3_in_flight`] does).
    pub max_in_flight: u16,
    /// MQTT 3.1.1: the in-flight window a broker is taken to accept, since 3.1.1 has no
    /// Receive Maximum for the broker to state it. 20: mosquitto's default
    /// `max_inflight_messages`; mosquitto 2.0.11 acknowledges (PUBREC) and then drops QoS 2
    /// messages beyond it on 3.1.1 (1,060 of 2,000 arrived with 100 in flight). Raise it for
    /// a broker known to take more.
    pub v3_in_flight: u16,
    /// The largest packet this client accepts; larger ones are refused as Packet Too Large.
    pub maximum_packet_size: u32,
    /// MQTT 5: how many topic aliases the broker may use towards this client.
    pub topic_alias_maximum: u16,
    /// Milliseconds to wait for CONNACK.
    pub connect_timeout_ms: u32,
    /// The offline queue.
    pub queue: QueueOptions,
    /// Received messages held for the application before the client stops reading the
    /// connection (back pressure to the broker instead of unbounded memory).
    pub max_received: usize,
    /// Events held for the application. Once it reads events (`poll_event`, `next_event`),
    /// none is ever dropped: while this many wait, the client stops reading the connection,
    /// as for received messages. An application that never reads events keeps the latest
    /// this many, the older ones counted in [`Stats::events_dropped`](super::Stats).
    pub max_events: usize,
}

impl Options {
    /// Defaults for `client_id`.
    pub fn new(client_id: impl Into<String>) -> Self {
        Options {
            version: Version::V5,
            client_id: client_id.into(),
            keep_alive: 30,
            clean_start: false,
            session_expiry: 3600,
            username: None,
            password: None,
            will: None,
            will_delay: None,
            birth: None,
            receive_maximum: 64,
            max_in_flight: 100,
            v3_in_flight: 20,
            maximum_packet_size: 1 << 20,
            topic_alias_maximum: 16,
            connect_timeout_ms: 10_000,
            queue: QueueOptions::default(),
            max_received: 1024,
            max_events: 1024,
        }
    }
}

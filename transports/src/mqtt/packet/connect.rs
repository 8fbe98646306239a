//! Opening and closing a session: CONNECT, CONNACK, DISCONNECT, PINGREQ/PINGRESP and (MQTT 5)
//! AUTH, for MQTT 3.1.1 and 5.0.
//!
//! ```
//! use telemetra_transports::mqtt::packet::connect::{Connect, Secret};
//! use telemetra_transports::mqtt::packet::publish::Version;
//!
//! let mut c = Connect::new("node-2a", 30);
//! c.username = Some("node-2a");
//! c.password = Some(Secret(b"s3cret"));
//! assert!(!format!("{c:?}").contains("s3cret"), "a password never shows in Debug output");
//! let mut buf = [0u8; 64];
//! let n = c.encode(Version::V5, &mut buf).unwrap();
//! assert_eq!(buf[0], 0x10);
//! # let _ = n;
//! ```

use core::fmt;

use super::encode;
use super::error::PacketError;
use super::properties::{Props, UserProperties, Value, flag, id, property_block};
use super::publish::{QoS, Version};
use super::wire::{PacketType, Reader, WireError, Writer};
use crate::mqtt::topic;

/// A password or other secret: its bytes never appear in `Debug` output.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Secret<'a>(pub &'a [u8]);

impl fmt::Debug for Secret<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The message the broker publishes if the client disappears (telemetra uses it to set the
/// device's retained status to offline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Will<'a> {
    /// Where to publish it.
    pub topic: &'a str,
    /// What to publish.
    pub payload: &'a [u8],
    /// At which QoS.
    pub qos: QoS,
    /// Retained.
    pub retain: bool,
    /// MQTT 5: seconds to wait before publishing it.
    pub delay: Option<u32>,
    /// MQTT 5: its Message Expiry Interval.
    pub message_expiry: Option<u32>,
    /// MQTT 5: its Content Type.
    pub content_type: Option<&'a str>,
}

/// A CONNECT packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connect<'a> {
    /// The client identifier (may be empty: the server then assigns one).
    pub client_id: &'a str,
    /// Start a new session (3.1.1: clean session).
    pub clean_start: bool,
    /// Keep alive, in seconds (0: off).
    pub keep_alive: u16,
    /// User name.
    pub username: Option<&'a str>,
    /// Password.
    pub password: Option<Secret<'a>>,
    /// Last will.
    pub will: Option<Will<'a>>,
    /// MQTT 5: Session Expiry Interval, in seconds.
    pub session_expiry: Option<u32>,
    /// MQTT 5: how many QoS 1 and 2 publishes this client accepts at once.
    pub receive_maximum: Option<u16>,
    /// MQTT 5: the largest packet this client accepts.
    pub maximum_packet_size: Option<u32>,
    /// MQTT 5: the highest topic alias this client accepts.
    pub topic_alias_maximum: Option<u16>,
    /// MQTT 5: user properties.
    pub user: UserProperties<'a>,
}

const CONNECT_PROPS: &[u8] = &[
    id::SESSION_EXPIRY,
    id::RECEIVE_MAXIMUM,
    id::MAXIMUM_PACKET_SIZE,
    id::TOPIC_ALIAS_MAXIMUM,
    id::REQUEST_RESPONSE_INFO,
    id::REQUEST_PROBLEM_INFO,
    id::USER_PROPERTY,
    id::AUTH_METHOD,
    id::AUTH_DATA,
];

const WILL_PROPS: &[u8] = &[
    id::WILL_DELAY,
    id::PAYLOAD_FORMAT,
    id::MESSAGE_EXPIRY,
    id::CONTENT_TYPE,
    id::RESPONSE_TOPIC,
    id::CORRELATION_DATA,
    id::USER_PROPERTY,
];

fn qos(bits: u8) -> Result<QoS, WireError> {
    match bits {
        0 => Ok(QoS::AtMostOnce),
        1 => Ok(QoS::AtLeastOnce),
        2 => Ok(QoS::ExactlyOnce),
        _ => Err(WireError::Qos3),
    }
}

impl<'a> Connect<'a> {
    /// A clean-start CONNECT with no credentials, will or properties.
    pub fn new(client_id: &'a str, keep_alive: u16) -> Self {
        Connect {
            client_id,
            clean_start: true,
            keep_alive,
            username: None,
            password: None,
            will: None,
            session_expiry: None,
            receive_maximum: None,
            maximum_packet_size: None,
            topic_alias_maximum: None,
            user: UserProperties::default(),
        }
    }

    fn write_props(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        encode::four(w, id::SESSION_EXPIRY, self.session_expiry)?;
        encode::two(w, id::RECEIVE_MAXIMUM, self.receive_maximum)?;
        encode::four(w, id::MAXIMUM_PACKET_SIZE, self.maximum_packet_size)?;
        encode::two(w, id::TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum)?;
        encode::user(w, &self.user)
    }

    fn write_body(&self, version: Version, w: &mut Writer<'_>) -> Result<(), PacketError> {
        let v5 = version == Version::V5;
        if !v5 && self.password.is_some() && self.username.is_none() {
            return Err(PacketError::Protocol("MQTT 3.1.1 allows no password without a user name"));
        }
        w.string("MQTT")?;
        w.u8(if v5 { 5 } else { 4 })?;
        let mut flags = u8::from(self.clean_start) << 1;
        if let Some(will) = &self.will {
            topic::validate_name(will.topic)?;
            flags |= 0b100 | ((will.qos as u8) << 3) | (u8::from(will.retain) << 5);
        }
        flags |= u8::from(self.password.is_some()) << 6 | u8::from(self.username.is_some()) << 7;
        w.u8(flags)?;
        w.u16(self.keep_alive)?;
        if v5 {
            encode::block(w, |w| self.write_props(w))?;
        }
        w.string(self.client_id)?;
        if let Some(will) = &self.will {
            if v5 {
                encode::block(w, |w| {
                    encode::four(w, id::WILL_DELAY, will.delay)?;
                    encode::four(w, id::MESSAGE_EXPIRY, will.message_expiry)?;
                    encode::string(w, id::CONTENT_TYPE, will.content_type)
                })?;
            }
            w.string(will.topic)?;
            w.binary(will.payload)?;
        }
        if let Some(u) = self.username {
            w.string(u)?;
        }
        if let Some(p) = self.password {
            w.binary(p.0)?;
        }
        Ok(())
    }

    /// Encodes the whole packet into `out`; returns its length.
    pub fn encode(&self, version: Version, out: &mut [u8]) -> Result<usize, PacketError> {
        encode::packet(PacketType::Connect, 0, out, |w| self.write_body(version, w))
    }

    /// Decodes the body of a CONNECT (what a broker, or a test's fake broker, receives); the
    /// protocol level in the packet gives the version.
    pub fn decode(body: &'a [u8]) -> Result<(Self, Version), PacketError> {
        let mut r = Reader::new(body);
        if r.string()? != "MQTT" {
            return Err(PacketError::Protocol("the protocol name is not MQTT"));
        }
        let version = match r.u8()? {
            4 => Version::V3_1_1,
            5 => Version::V5,
            _ => return Err(PacketError::Protocol("unsupported protocol level (this reads 4 and 5)")),
        };
        let flags = r.u8()?;
        if flags & 1 != 0 {
            return Err(PacketError::Protocol("the reserved CONNECT flag is set"));
        }
        let will_flag = flags & 0b100 != 0;
        let will_qos = qos((flags >> 3) & 0b11)?;
        let will_retain = flags & 0b10_0000 != 0;
        if !will_flag && (will_qos != QoS::AtMostOnce || will_retain) {
            return Err(PacketError::Protocol("will QoS or retain set without a will"));
        }
        let mut c = Connect::new("", r.u16()?);
        c.clean_start = flags & 0b10 != 0;
        if version == Version::V5 {
            let raw = property_block(&mut r)?;
            c.user = UserProperties::received(raw);
            let mut props = Props::new(raw, PacketType::Connect, CONNECT_PROPS);
            while let Some((pid, v)) = props.next()? {
                match (pid, v) {
                    (id::SESSION_EXPIRY, Value::Four(x)) => c.session_expiry = Some(x),
                    (id::RECEIVE_MAXIMUM, Value::Two(0)) => {
                        return Err(PacketError::BadPropertyValue { id: pid });
                    }
                    (id::RECEIVE_MAXIMUM, Value::Two(x)) => c.receive_maximum = Some(x),
                    (id::MAXIMUM_PACKET_SIZE, Value::Four(0)) => {
                        return Err(PacketError::BadPropertyValue { id: pid });
                    }
                    (id::MAXIMUM_PACKET_SIZE, Value::Four(x)) => c.maximum_packet_size = Some(x),
                    (id::TOPIC_ALIAS_MAXIMUM, Value::Two(x)) => c.topic_alias_maximum = Some(x),
                    (id::REQUEST_RESPONSE_INFO | id::REQUEST_PROBLEM_INFO, Value::Byte(b)) => {
                        flag(pid, b)?;
                    }
                    _ => {}
                }
            }
        }
        c.client_id = r.string()?;
        if will_flag {
            let mut will = Will {
                topic: "",
                payload: &[],
                qos: will_qos,
                retain: will_retain,
                delay: None,
                message_expiry: None,
                content_type: None,
            };
            if version == Version::V5 {
                let mut props = Props::new(property_block(&mut r)?, PacketType::Connect, WILL_PROPS);
                while let Some((pid, v)) = props.next()? {
                    match (pid, v) {
                        (id::WILL_DELAY, Value::Four(x)) => will.delay = Some(x),
                        (id::MESSAGE_EXPIRY, Value::Four(x)) => will.message_expiry = Some(x),
                        (id::CONTENT_TYPE, Value::Str(x)) => will.content_type = Some(x),
                        (id::PAYLOAD_FORMAT, Value::Byte(b)) => {
                            flag(pid, b)?;
                        }
                        _ => {}
                    }
                }
            }
            will.topic = r.string()?;
            topic::validate_name(will.topic)?;
            will.payload = r.binary()?;
            c.will = Some(will);
        }
        if flags & 0x80 != 0 {
            c.username = Some(r.string()?);
        }
        if flags & 0x40 != 0 {
            if version == Version::V3_1_1 && c.username.is_none() {
                return Err(PacketError::Protocol("MQTT 3.1.1 allows no password without a user name"));
            }
            c.password = Some(Secret(r.binary()?));
        }
        match r.remaining().len() {
            0 => Ok((c, version)),
            extra => Err(PacketError::TrailingBytes { extra }),
        }
    }
}

/// A CONNACK packet: the server's answer to CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Connack<'a> {
    /// The server kept a session for this client.
    pub session_present: bool,
    /// The reason code (3.1.1: the return code); 0 is success.
    pub reason: u8,
    /// MQTT 5: the Session Expiry Interval the server uses.
    pub session_expiry: Option<u32>,
    /// MQTT 5: how many QoS 1 and 2 publishes the server accepts at once (default 65,535).
    pub receive_maximum: Option<u16>,
    /// MQTT 5: the highest QoS the server supports.
    pub maximum_qos: Option<QoS>,
    /// MQTT 5: whether the server supports retained messages.
    pub retain_available: Option<bool>,
    /// MQTT 5: the largest packet the server accepts.
    pub maximum_packet_size: Option<u32>,
    /// MQTT 5: the client identifier the server assigned.
    pub assigned_client_id: Option<&'a str>,
    /// MQTT 5: the highest topic alias the server accepts.
    pub topic_alias_maximum: Option<u16>,
    /// MQTT 5: a reason string.
    pub reason_string: Option<&'a str>,
    /// MQTT 5: whether wildcard subscriptions are available.
    pub wildcards_available: Option<bool>,
    /// MQTT 5: whether subscription identifiers are available.
    pub subscription_ids_available: Option<bool>,
    /// MQTT 5: whether shared subscriptions are available.
    pub shared_available: Option<bool>,
    /// MQTT 5: the keep alive the server requires instead of the client's.
    pub server_keep_alive: Option<u16>,
    /// MQTT 5: user properties.
    pub user: UserProperties<'a>,
}

const CONNACK_PROPS: &[u8] = &[
    id::SESSION_EXPIRY,
    id::RECEIVE_MAXIMUM,
    id::MAXIMUM_QOS,
    id::RETAIN_AVAILABLE,
    id::MAXIMUM_PACKET_SIZE,
    id::ASSIGNED_CLIENT_ID,
    id::TOPIC_ALIAS_MAXIMUM,
    id::REASON_STRING,
    id::USER_PROPERTY,
    id::WILDCARD_AVAILABLE,
    id::SUBSCRIPTION_IDS_AVAILABLE,
    id::SHARED_AVAILABLE,
    id::SERVER_KEEP_ALIVE,
    id::RESPONSE_INFO,
    id::SERVER_REFERENCE,
    id::AUTH_METHOD,
    id::AUTH_DATA,
];

impl<'a> Connack<'a> {
    /// Decodes a CONNACK body.
    pub fn decode(body: &'a [u8], version: Version) -> Result<Self, PacketError> {
        let mut r = Reader::new(body);
        let flags = r.u8()?;
        if flags & !1 != 0 {
            return Err(PacketError::Protocol("reserved CONNACK flags are set"));
        }
        let mut c = Connack { session_present: flags & 1 != 0, reason: r.u8()?, ..Connack::default() };
        if version == Version::V5 {
            let raw = property_block(&mut r)?;
            c.user = UserProperties::received(raw);
            let mut props = Props::new(raw, PacketType::Connack, CONNACK_PROPS);
            while let Some((pid, v)) = props.next()? {
                match (pid, v) {
                    (id::SESSION_EXPIRY, Value::Four(x)) => c.session_expiry = Some(x),
                    (id::RECEIVE_MAXIMUM | id::MAXIMUM_PACKET_SIZE, Value::Two(0) | Value::Four(0)) => {
                        return Err(PacketError::BadPropertyValue { id: pid });
                    }
                    (id::RECEIVE_MAXIMUM, Value::Two(x)) => c.receive_maximum = Some(x),
                    (id::MAXIMUM_QOS, Value::Byte(b)) => {
                        c.maximum_qos = Some(if flag(pid, b)? { QoS::AtLeastOnce } else { QoS::AtMostOnce });
                    }
                    (id::RETAIN_AVAILABLE, Value::Byte(b)) => c.retain_available = Some(flag(pid, b)?),
                    (id::MAXIMUM_PACKET_SIZE, Value::Four(x)) => c.maximum_packet_size = Some(x),
                    (id::ASSIGNED_CLIENT_ID, Value::Str(s)) => c.assigned_client_id = Some(s),
                    (id::TOPIC_ALIAS_MAXIMUM, Value::Two(x)) => c.topic_alias_maximum = Some(x),
                    (id::REASON_STRING, Value::Str(s)) => c.reason_string = Some(s),
                    (id::WILDCARD_AVAILABLE, Value::Byte(b)) => c.wildcards_available = Some(flag(pid, b)?),
                    (id::SUBSCRIPTION_IDS_AVAILABLE, Value::Byte(b)) => {
                        c.subscription_ids_available = Some(flag(pid, b)?);
                    }
                    (id::SHARED_AVAILABLE, Value::Byte(b)) => c.shared_available = Some(flag(pid, b)?),
                    (id::SERVER_KEEP_ALIVE, Value::Two(x)) => c.server_keep_alive = Some(x),
                    _ => {}
                }
            }
        }
        match r.remaining().len() {
            0 => Ok(c),
            extra => Err(PacketError::TrailingBytes { extra }),
        }
    }

    /// Encodes the whole packet (for tests and fake brokers); returns its length.
    pub fn encode(&self, version: Version, out: &mut [u8]) -> Result<usize, PacketError> {
        let flag = |v: Option<bool>| v.map(u8::from);
        encode::packet(PacketType::Connack, 0, out, |w| {
            w.u8(u8::from(self.session_present))?;
            w.u8(self.reason)?;
            if version == Version::V5 {
                encode::block(w, |w| {
                    encode::four(w, id::SESSION_EXPIRY, self.session_expiry)?;
                    encode::two(w, id::RECEIVE_MAXIMUM, self.receive_maximum)?;
                    encode::byte(w, id::MAXIMUM_QOS, self.maximum_qos.map(|q| q as u8))?;
                    encode::byte(w, id::RETAIN_AVAILABLE, flag(self.retain_available))?;
                    encode::four(w, id::MAXIMUM_PACKET_SIZE, self.maximum_packet_size)?;
                    encode::string(w, id::ASSIGNED_CLIENT_ID, self.assigned_client_id)?;
                    encode::two(w, id::TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum)?;
                    encode::string(w, id::REASON_STRING, self.reason_string)?;
                    encode::byte(w, id::WILDCARD_AVAILABLE, flag(self.wildcards_available))?;
                    encode::byte(w, id::SUBSCRIPTION_IDS_AVAILABLE, flag(self.subscription_ids_available))?;
                    encode::byte(w, id::SHARED_AVAILABLE, flag(self.shared_available))?;
                    encode::two(w, id::SERVER_KEEP_ALIVE, self.server_keep_alive)?;
                    encode::user(w, &self.user)
                })?;
            }
            Ok(())
        })
    }
}

/// A DISCONNECT packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Disconnect<'a> {
    /// MQTT 5 reason code (0: normal disconnection; 0x04: disconnect with will message).
    pub reason: u8,
    /// MQTT 5: a new Session Expiry Interval (client to server only).
    pub session_expiry: Option<u32>,
    /// MQTT 5: a reason string.
    pub reason_string: Option<&'a str>,
}

const DISCONNECT_PROPS: &[u8] =
    &[id::SESSION_EXPIRY, id::REASON_STRING, id::USER_PROPERTY, id::SERVER_REFERENCE];

impl<'a> Disconnect<'a> {
    /// Decodes a DISCONNECT body (empty in 3.1.1; reason and properties optional in 5.0).
    pub fn decode(body: &'a [u8], version: Version) -> Result<Self, PacketError> {
        let mut r = Reader::new(body);
        let mut d = Disconnect::default();
        if version == Version::V5 && !r.remaining().is_empty() {
            d.reason = r.u8()?;
            if !r.remaining().is_empty() {
                let mut props = Props::new(property_block(&mut r)?, PacketType::Disconnect, DISCONNECT_PROPS);
                while let Some((pid, v)) = props.next()? {
                    match (pid, v) {
                        (id::SESSION_EXPIRY, Value::Four(x)) => d.session_expiry = Some(x),
                        (id::REASON_STRING, Value::Str(s)) => d.reason_string = Some(s),
                        _ => {}
                    }
                }
            }
        }
        match r.remaining().len() {
            0 => Ok(d),
            extra => Err(PacketError::TrailingBytes { extra }),
        }
    }

    /// Encodes the whole packet; returns its length.
    pub fn encode(&self, version: Version, out: &mut [u8]) -> Result<usize, PacketError> {
        encode::packet(PacketType::Disconnect, 0, out, |w| {
            let empty = self.reason == 0 && self.session_expiry.is_none() && self.reason_string.is_none();
            if version == Version::V3_1_1 || empty {
                return Ok(());
            }
            w.u8(self.reason)?;
            encode::block(w, |w| {
                encode::four(w, id::SESSION_EXPIRY, self.session_expiry)?;
                encode::string(w, id::REASON_STRING, self.reason_string)
            })?;
            Ok(())
        })
    }
}

/// An AUTH packet (MQTT 5 only): a step of extended authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Auth<'a> {
    /// 0x00 success, 0x18 continue authentication, 0x19 re-authenticate.
    pub reason: u8,
    /// The authentication method (e.g. `SCRAM-SHA-256`).
    pub method: Option<&'a str>,
    /// The method's data for this step.
    pub data: Option<Secret<'a>>,
    /// A reason string.
    pub reason_string: Option<&'a str>,
}

const AUTH_PROPS: &[u8] = &[id::AUTH_METHOD, id::AUTH_DATA, id::REASON_STRING, id::USER_PROPERTY];

impl<'a> Auth<'a> {
    /// Decodes an AUTH body.
    pub fn decode(body: &'a [u8]) -> Result<Self, PacketError> {
        let mut r = Reader::new(body);
        let mut a = Auth::default();
        if r.remaining().is_empty() {
            return Ok(a);
        }
        a.reason = r.u8()?;
        if !matches!(a.reason, 0x00 | 0x18 | 0x19) {
            return Err(PacketError::Protocol("an AUTH reason code is 0x00, 0x18 or 0x19"));
        }
        if !r.remaining().is_empty() {
            let mut props = Props::new(property_block(&mut r)?, PacketType::Auth, AUTH_PROPS);
            while let Some((pid, v)) = props.next()? {
                match (pid, v) {
                    (id::AUTH_METHOD, Value::Str(s)) => a.method = Some(s),
                    (id::AUTH_DATA, Value::Bin(d)) => a.data = Some(Secret(d)),
                    (id::REASON_STRING, Value::Str(s)) => a.reason_string = Some(s),
                    _ => {}
                }
            }
        }
        match r.remaining().len() {
            0 => Ok(a),
            extra => Err(PacketError::TrailingBytes { extra }),
        }
    }

    /// Encodes the whole packet; returns its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, PacketError> {
        encode::packet(PacketType::Auth, 0, out, |w| {
            if *self == Auth::default() {
                return Ok(());
            }
            w.u8(self.reason)?;
            encode::block(w, |w| {
                encode::string(w, id::AUTH_METHOD, self.method)?;
                encode::binary(w, id::AUTH_DATA, self.data.map(|d| d.0))?;
                encode::string(w, id::REASON_STRING, self.reason_string)
            })?;
            Ok(())
        })
    }
}

/// PINGREQ, as bytes.
pub const PINGREQ: [u8; 2] = [0xc0, 0x00];
/// PINGRESP, as bytes.
pub const PINGRESP: [u8; 2] = [0xd0, 0x00];

#[cfg(test)]
mod tests;

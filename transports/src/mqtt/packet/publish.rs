//! The publish flow of MQTT 3.1.1 and 5.0: PUBLISH and its acknowledgements (PUBACK, PUBREC,
//! PUBREL, PUBCOMP), decoded zero-copy from a packet body and encoded into a caller's buffer.
//!
//! ```
//! use telemetra_transports::mqtt::packet::publish::{Publish, QoS, Version};
//! use telemetra_transports::mqtt::packet::wire::FixedHeader;
//!
//! let mut p = Publish::new("tm/v1/2a/readings", b"\x01\x2a\x07");
//! p.qos = QoS::AtLeastOnce;
//! p.packet_id = Some(10);
//! p.properties.message_expiry = Some(60);
//! let mut buf = [0u8; 64];
//! let n = p.encode(Version::V5, &mut buf).unwrap();
//!
//! let (header, len) = FixedHeader::parse(&buf[..n], 1024).unwrap().unwrap();
//! let back = Publish::decode(header, &buf[len..n], Version::V5, 0).unwrap();
//! assert_eq!(back, p);
//! ```

use super::encode;
pub use super::error::PacketError;
use super::properties::{Props, UserProperties, Value, flag, id, once, property_block, var_int_len};
use super::wire::{FixedHeader, PacketType, Reader, WireError, Writer};
use crate::mqtt::topic;

/// The protocol version in use on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// MQTT 3.1.1 (protocol level 4).
    V3_1_1,
    /// MQTT 5.0 (protocol level 5).
    V5,
}

/// A quality of service level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum QoS {
    /// At most once: fire and forget.
    #[default]
    AtMostOnce = 0,
    /// At least once: acknowledged by PUBACK, may be delivered twice.
    AtLeastOnce = 1,
    /// Exactly once: the PUBREC, PUBREL, PUBCOMP handshake.
    ExactlyOnce = 2,
}

const PUBLISH_PROPS: &[u8] = &[
    id::PAYLOAD_FORMAT,
    id::MESSAGE_EXPIRY,
    id::TOPIC_ALIAS,
    id::RESPONSE_TOPIC,
    id::CORRELATION_DATA,
    id::USER_PROPERTY,
    id::SUBSCRIPTION_ID,
    id::CONTENT_TYPE,
];

/// The MQTT 5 properties of a PUBLISH.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishProperties<'a> {
    /// Payload Format Indicator: true for UTF-8 text, false for bytes.
    pub payload_utf8: Option<bool>,
    /// Message Expiry Interval, in seconds.
    pub message_expiry: Option<u32>,
    /// Topic Alias.
    pub topic_alias: Option<u16>,
    /// Response Topic, for request/response.
    pub response_topic: Option<&'a str>,
    /// Correlation Data, for request/response.
    pub correlation_data: Option<&'a [u8]>,
    /// User Properties.
    pub user: UserProperties<'a>,
    /// Subscription Identifier (the first, when the server sends several).
    pub subscription_id: Option<u32>,
    /// Content Type (a MIME type such as `application/vnd.telemetra.frame`).
    pub content_type: Option<&'a str>,
}

/// A PUBLISH packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publish<'a> {
    /// This is a redelivery.
    pub dup: bool,
    /// Its quality of service.
    pub qos: QoS,
    /// The broker keeps it for future subscribers.
    pub retain: bool,
    /// The topic name (empty when a topic alias stands for it, MQTT 5 only).
    pub topic: &'a str,
    /// The packet identifier; present exactly when QoS > 0.
    pub packet_id: Option<u16>,
    /// MQTT 5 properties (ignored, and absent on decode, for 3.1.1).
    pub properties: PublishProperties<'a>,
    /// The application message.
    pub payload: &'a [u8],
}

impl<'a> Publish<'a> {
    /// A QoS 0, non-retained PUBLISH of `payload` to `topic`.
    pub fn new(topic: &'a str, payload: &'a [u8]) -> Self {
        Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic,
            packet_id: None,
            properties: PublishProperties::default(),
            payload,
        }
    }

    /// Decodes the body of a PUBLISH whose fixed header is `header`. `topic_alias_max` is the
    /// Topic Alias Maximum this side announced (0: none accepted).
    pub fn decode(
        header: FixedHeader,
        body: &'a [u8],
        version: Version,
        topic_alias_max: u16,
    ) -> Result<Self, PacketError> {
        let flags = header.flags;
        let qos = match (flags >> 1) & 0b11 {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            2 => QoS::ExactlyOnce,
            _ => return Err(WireError::Qos3.into()),
        };
        let mut r = Reader::new(body);
        let topic = r.string()?;
        let packet_id = match qos {
            QoS::AtMostOnce => None,
            _ => Some(r.packet_id()?),
        };
        let mut properties = PublishProperties::default();
        if version == Version::V5 {
            let raw = property_block(&mut r)?;
            properties.user = UserProperties::received(raw);
            let mut props = Props::new(raw, PacketType::Publish, PUBLISH_PROPS);
            while let Some((pid, v)) = props.next()? {
                match (pid, v) {
                    (id::PAYLOAD_FORMAT, Value::Byte(b)) => properties.payload_utf8 = Some(flag(pid, b)?),
                    (id::MESSAGE_EXPIRY, Value::Four(x)) => properties.message_expiry = Some(x),
                    (id::TOPIC_ALIAS, Value::Two(x)) => properties.topic_alias = Some(x),
                    (id::RESPONSE_TOPIC, Value::Str(t)) => {
                        topic::validate_name(t)?;
                        properties.response_topic = Some(t);
                    }
                    (id::CORRELATION_DATA, Value::Bin(d)) => properties.correlation_data = Some(d),
                    (id::SUBSCRIPTION_ID, Value::Var(0)) => {
                        return Err(PacketError::BadPropertyValue { id: pid });
                    }
                    // Several may come (one per matching subscription): keep the first.
                    (id::SUBSCRIPTION_ID, Value::Var(x)) => {
                        properties.subscription_id.get_or_insert(x);
                    }
                    (id::CONTENT_TYPE, Value::Str(t)) => properties.content_type = Some(t),
                    _ => {}
                }
            }
            if let Some(alias) = properties.topic_alias
                && (alias == 0 || alias > topic_alias_max)
            {
                return Err(PacketError::TopicAlias { alias, max: topic_alias_max });
            }
        }
        if !(topic.is_empty() && properties.topic_alias.is_some()) {
            topic::validate_name(topic)?;
        }
        Ok(Publish {
            dup: flags & 0b1000 != 0,
            qos,
            retain: flags & 1 != 0,
            topic,
            packet_id,
            properties,
            payload: r.remaining(),
        })
    }

    /// Encodes the whole packet (fixed header included) into `out`; returns its length.
    pub fn encode(&self, version: Version, out: &mut [u8]) -> Result<usize, PacketError> {
        let v5 = version == Version::V5;
        if !(v5 && self.topic.is_empty() && self.properties.topic_alias.is_some()) {
            topic::validate_name(self.topic)?;
        }
        if (self.qos == QoS::AtMostOnce) != self.packet_id.is_none() || self.packet_id == Some(0) {
            return Err(WireError::PacketIdZero.into());
        }
        let props = if v5 { self.properties.encoded_len() } else { 0 };
        let props_total = if v5 { var_int_len(props) + props } else { 0 };
        let remaining =
            2 + self.topic.len() + self.packet_id.map_or(0, |_| 2) + props_total + self.payload.len();
        let remaining =
            u32::try_from(remaining).map_err(|_| WireError::TooLarge { size: u32::MAX, max: 0 })?;
        let flags = (u8::from(self.dup) << 3) | ((self.qos as u8) << 1) | u8::from(self.retain);
        let mut w = Writer::new(out);
        let mut head = [0u8; 5];
        let n = FixedHeader { kind: PacketType::Publish, flags, remaining }.write(&mut head)?;
        w.bytes(&head[..n])?;
        w.string(self.topic)?;
        if let Some(id) = self.packet_id {
            w.u16(id)?;
        }
        if v5 {
            w.var_int(props as u32)?;
            self.properties.write(&mut w)?;
        }
        w.bytes(self.payload)?;
        Ok(w.len())
    }
}

impl PublishProperties<'_> {
    /// The encoded size of the properties (without their length prefix).
    fn encoded_len(&self) -> usize {
        let string = |s: Option<&str>| s.map_or(0, |s| 3 + s.len());
        usize::from(self.payload_utf8.is_some()) * 2
            + usize::from(self.message_expiry.is_some()) * 5
            + usize::from(self.topic_alias.is_some()) * 3
            + string(self.content_type)
            + string(self.response_topic)
            + self.correlation_data.map_or(0, |d| 3 + d.len())
            + self.subscription_id.map_or(0, |v| 1 + var_int_len(v as usize))
            + self.user.iter().map(|(k, v)| 5 + k.len() + v.len()).sum::<usize>()
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        encode::byte(w, id::PAYLOAD_FORMAT, self.payload_utf8.map(u8::from))?;
        encode::four(w, id::MESSAGE_EXPIRY, self.message_expiry)?;
        encode::string(w, id::CONTENT_TYPE, self.content_type)?;
        encode::string(w, id::RESPONSE_TOPIC, self.response_topic)?;
        encode::binary(w, id::CORRELATION_DATA, self.correlation_data)?;
        encode::var(w, id::SUBSCRIPTION_ID, self.subscription_id)?;
        encode::two(w, id::TOPIC_ALIAS, self.topic_alias)?;
        encode::user(w, &self.user)
    }
}

/// The acknowledgements of the publish flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckKind {
    /// PUBACK: QoS 1 delivered.
    Puback,
    /// PUBREC: QoS 2 received.
    Pubrec,
    /// PUBREL: QoS 2 released.
    Pubrel,
    /// PUBCOMP: QoS 2 complete.
    Pubcomp,
}

impl AckKind {
    fn packet_type(self) -> PacketType {
        match self {
            AckKind::Puback => PacketType::Puback,
            AckKind::Pubrec => PacketType::Pubrec,
            AckKind::Pubrel => PacketType::Pubrel,
            AckKind::Pubcomp => PacketType::Pubcomp,
        }
    }
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack<'a> {
    /// Which acknowledgement.
    pub kind: AckKind,
    /// The packet it acknowledges.
    pub packet_id: u16,
    /// MQTT 5 reason code (0 is success; 0x80 and above are failures).
    pub reason: u8,
    /// MQTT 5 reason string.
    pub reason_string: Option<&'a str>,
}

impl<'a> Ack<'a> {
    /// A successful acknowledgement.
    pub fn success(kind: AckKind, packet_id: u16) -> Self {
        Ack { kind, packet_id, reason: 0, reason_string: None }
    }

    /// Decodes the body of an acknowledgement whose fixed header is `header`.
    pub fn decode(header: FixedHeader, body: &'a [u8], version: Version) -> Result<Self, PacketError> {
        let kind = match header.kind {
            PacketType::Puback => AckKind::Puback,
            PacketType::Pubrec => AckKind::Pubrec,
            PacketType::Pubrel => AckKind::Pubrel,
            PacketType::Pubcomp => AckKind::Pubcomp,
            _ => return Err(PacketError::Protocol("not an acknowledgement of the publish flow")),
        };
        let mut r = Reader::new(body);
        let packet_id = r.packet_id()?;
        let mut ack = Ack::success(kind, packet_id);
        // MQTT 5 may omit the reason code (success) and the properties (none).
        if version == Version::V5 && !r.remaining().is_empty() {
            ack.reason = r.u8()?;
            if !r.remaining().is_empty() {
                let mut p = Reader::new(property_block(&mut r)?);
                while !p.remaining().is_empty() {
                    match p.u8()? {
                        id::REASON_STRING => once(&mut ack.reason_string, id::REASON_STRING, p.string()?)?,
                        id::USER_PROPERTY => {
                            p.string()?;
                            p.string()?;
                        }
                        id => return Err(PacketError::UnexpectedProperty { id, kind: header.kind }),
                    }
                }
            }
        }
        match r.remaining().len() {
            0 => Ok(ack),
            extra => Err(PacketError::TrailingBytes { extra }),
        }
    }

    /// Encodes the whole packet into `out`; returns its length.
    pub fn encode(&self, version: Version, out: &mut [u8]) -> Result<usize, PacketError> {
        if self.packet_id == 0 {
            return Err(WireError::PacketIdZero.into());
        }
        let kind = self.kind.packet_type();
        let flags = kind.required_flags().unwrap_or(0);
        encode::packet(kind, flags, out, |w| {
            w.u16(self.packet_id)?;
            // MQTT 5 omits the reason code when it is success with no properties, and the
            // properties when there are none.
            if version == Version::V5 && (self.reason != 0 || self.reason_string.is_some()) {
                w.u8(self.reason)?;
                if self.reason_string.is_some() {
                    encode::block(w, |w| encode::string(w, id::REASON_STRING, self.reason_string))?;
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests;

//! Subscriptions: SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK, for MQTT 3.1.1 and 5.0.
//!
//! ```
//! use telemetra_transports::mqtt::packet::publish::{QoS, Version};
//! use telemetra_transports::mqtt::packet::subscribe::{Subscribe, Subscription};
//!
//! let subs = [Subscription::new("tm/v1/+/readings", QoS::AtLeastOnce)];
//! let s = Subscribe { packet_id: 1, subscription_id: None, filters: &subs };
//! let mut buf = [0u8; 64];
//! let n = s.encode(Version::V5, &mut buf).unwrap();
//! assert_eq!(buf[0], 0x82, "SUBSCRIBE carries flags 0010");
//! # let _ = n;
//! ```

use super::encode;
use super::error::PacketError;
use super::properties::{Props, Value, id, once, property_block};
use super::publish::{QoS, Version};
use super::wire::{PacketType, Reader, WireError};
use crate::mqtt::topic;

/// What the broker does with retained messages when a subscription is made (MQTT 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RetainHandling {
    /// Send them at every subscribe.
    #[default]
    SendAlways = 0,
    /// Send them only if the subscription did not exist.
    SendIfNew = 1,
    /// Never send them.
    Never = 2,
}

/// One topic filter of a SUBSCRIBE, with its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscription<'a> {
    /// The topic filter (possibly `$share/{group}/...`).
    pub filter: &'a str,
    /// The highest QoS the client wants.
    pub qos: QoS,
    /// MQTT 5: do not receive one's own publishes.
    pub no_local: bool,
    /// MQTT 5: keep the RETAIN flag as published.
    pub retain_as_published: bool,
    /// MQTT 5: what to do with retained messages.
    pub retain_handling: RetainHandling,
}

impl<'a> Subscription<'a> {
    /// A subscription with default options.
    pub fn new(filter: &'a str, qos: QoS) -> Self {
        Subscription {
            filter,
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::SendAlways,
        }
    }

    fn options(&self, version: Version) -> u8 {
        let mut o = self.qos as u8;
        if version == Version::V5 {
            o |= u8::from(self.no_local) << 2
                | u8::from(self.retain_as_published) << 3
                | (self.retain_handling as u8) << 4;
        }
        o
    }
}

/// A SUBSCRIBE packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscribe<'a> {
    /// Its packet identifier (non-zero).
    pub packet_id: u16,
    /// MQTT 5: a Subscription Identifier the broker will attach to matching publishes.
    pub subscription_id: Option<u32>,
    /// The filters (at least one).
    pub filters: &'a [Subscription<'a>],
}

fn check_id(packet_id: u16) -> Result<(), PacketError> {
    match packet_id {
        0 => Err(WireError::PacketIdZero.into()),
        _ => Ok(()),
    }
}

impl Subscribe<'_> {
    /// Encodes the whole packet into `out`; returns its length.
    pub fn encode(&self, version: Version, out: &mut [u8]) -> Result<usize, PacketError> {
        check_id(self.packet_id)?;
        if self.filters.is_empty() {
            return Err(PacketError::Protocol("a SUBSCRIBE needs at least one filter"));
        }
        for s in self.filters {
            topic::validate_filter(s.filter)?;
        }
        if self.subscription_id == Some(0) {
            return Err(PacketError::BadPropertyValue { id: id::SUBSCRIPTION_ID });
        }
        encode::packet(PacketType::Subscribe, 0b0010, out, |w| {
            w.u16(self.packet_id)?;
            if version == Version::V5 {
                encode::block(w, |w| encode::var(w, id::SUBSCRIPTION_ID, self.subscription_id))?;
            }
            for s in self.filters {
                w.string(s.filter)?;
                w.u8(s.options(version))?;
            }
            Ok(())
        })
    }

    /// Decodes a SUBSCRIBE body, calling `each` with every subscription (for fake brokers and
    /// tests; returns the packet id and subscription identifier).
    pub fn decode<'b>(
        body: &'b [u8],
        version: Version,
        mut each: impl FnMut(Subscription<'b>),
    ) -> Result<(u16, Option<u32>), PacketError> {
        let mut r = Reader::new(body);
        let packet_id = r.packet_id()?;
        let mut subscription_id = None;
        if version == Version::V5 {
            let mut props = Props::new(
                property_block(&mut r)?,
                PacketType::Subscribe,
                &[id::SUBSCRIPTION_ID, id::USER_PROPERTY],
            );
            while let Some((pid, v)) = props.next()? {
                match (pid, v) {
                    (id::SUBSCRIPTION_ID, Value::Var(0)) => {
                        return Err(PacketError::BadPropertyValue { id: pid });
                    }
                    (id::SUBSCRIPTION_ID, Value::Var(x)) => once(&mut subscription_id, pid, x)?,
                    _ => {}
                }
            }
        }
        if r.remaining().is_empty() {
            return Err(PacketError::Protocol("a SUBSCRIBE needs at least one filter"));
        }
        while !r.remaining().is_empty() {
            let filter = r.string()?;
            topic::validate_filter(filter)?;
            let o = r.u8()?;
            let reserved = if version == Version::V5 { 0b1100_0000 } else { 0b1111_1100 };
            if o & reserved != 0 {
                return Err(PacketError::Protocol("reserved subscription option bits are set"));
            }
            let qos = match o & 0b11 {
                0 => QoS::AtMostOnce,
                1 => QoS::AtLeastOnce,
                2 => QoS::ExactlyOnce,
                _ => return Err(WireError::Qos3.into()),
            };
            let retain_handling = match (o >> 4) & 0b11 {
                0 => RetainHandling::SendAlways,
                1 => RetainHandling::SendIfNew,
                2 => RetainHandling::Never,
                _ => return Err(PacketError::Protocol("retain handling 3 does not exist")),
            };
            each(Subscription {
                filter,
                qos,
                no_local: o & 0b100 != 0,
                retain_as_published: o & 0b1000 != 0,
                retain_handling,
            });
        }
        Ok((packet_id, subscription_id))
    }
}

/// An UNSUBSCRIBE packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsubscribe<'a> {
    /// Its packet identifier (non-zero).
    pub packet_id: u16,
    /// The filters to remove (at least one).
    pub filters: &'a [&'a str],
}

impl Unsubscribe<'_> {
    /// Encodes the whole packet into `out`; returns its length.
    pub fn encode(&self, version: Version, out: &mut [u8]) -> Result<usize, PacketError> {
        check_id(self.packet_id)?;
        if self.filters.is_empty() {
            return Err(PacketError::Protocol("an UNSUBSCRIBE needs at least one filter"));
        }
        for f in self.filters {
            topic::validate_filter(f)?;
        }
        encode::packet(PacketType::Unsubscribe, 0b0010, out, |w| {
            w.u16(self.packet_id)?;
            if version == Version::V5 {
                w.var_int(0)?;
            }
            for f in self.filters {
                w.string(f)?;
            }
            Ok(())
        })
    }
}

/// SUBACK or UNSUBACK: one reason code per filter, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubAck<'a> {
    /// SUBACK or UNSUBACK.
    pub kind: PacketType,
    /// The packet acknowledged.
    pub packet_id: u16,
    /// MQTT 5: a reason string.
    pub reason_string: Option<&'a str>,
    /// One code per filter: for SUBACK the granted QoS (0, 1, 2) or a failure (0x80 and up);
    /// for UNSUBACK (MQTT 5) 0 or a failure. A 3.1.1 UNSUBACK has none.
    pub codes: &'a [u8],
}

impl<'a> SubAck<'a> {
    /// Decodes a SUBACK or UNSUBACK body.
    pub fn decode(kind: PacketType, body: &'a [u8], version: Version) -> Result<Self, PacketError> {
        if !matches!(kind, PacketType::Suback | PacketType::Unsuback) {
            return Err(PacketError::Protocol("not a SUBACK or UNSUBACK"));
        }
        let mut r = Reader::new(body);
        let packet_id = r.packet_id()?;
        let mut reason_string = None;
        if version == Version::V5 {
            let mut props =
                Props::new(property_block(&mut r)?, kind, &[id::REASON_STRING, id::USER_PROPERTY]);
            while let Some((pid, v)) = props.next()? {
                if let (id::REASON_STRING, Value::Str(s)) = (pid, v) {
                    reason_string = Some(s);
                }
            }
        }
        let codes = r.remaining();
        let v311_unsuback = kind == PacketType::Unsuback && version == Version::V3_1_1;
        if v311_unsuback != codes.is_empty() {
            return Err(PacketError::Protocol("wrong number of reason codes"));
        }
        if kind == PacketType::Suback
            && version == Version::V3_1_1
            && codes.iter().any(|c| !matches!(c, 0 | 1 | 2 | 0x80))
        {
            return Err(PacketError::Protocol("a 3.1.1 SUBACK return code is 0, 1, 2 or 0x80"));
        }
        Ok(SubAck { kind, packet_id, reason_string, codes })
    }

    /// Encodes the whole packet (for tests and fake brokers); returns its length.
    pub fn encode(&self, version: Version, out: &mut [u8]) -> Result<usize, PacketError> {
        check_id(self.packet_id)?;
        encode::packet(self.kind, 0, out, |w| {
            w.u16(self.packet_id)?;
            if version == Version::V5 {
                encode::block(w, |w| encode::string(w, id::REASON_STRING, self.reason_string))?;
            }
            if !(self.kind == PacketType::Unsuback && version == Version::V3_1_1) {
                w.bytes(self.codes)?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::packet::wire::FixedHeader;
    use std::vec::Vec;

    const MAX: u32 = 1 << 20;

    fn body(bytes: &[u8]) -> &[u8] {
        let (_, len) = FixedHeader::parse(bytes, MAX).unwrap().unwrap();
        &bytes[len..]
    }

    #[test]
    fn golden_subscribe_3_1_1() {
        let subs = [Subscription::new("a/+", QoS::AtLeastOnce)];
        let mut buf = [0u8; 32];
        let n = Subscribe { packet_id: 10, subscription_id: None, filters: &subs }
            .encode(Version::V3_1_1, &mut buf)
            .unwrap();
        assert_eq!(&buf[..n], &[0x82, 0x08, 0x00, 0x0a, 0x00, 0x03, b'a', b'/', b'+', 0x01]);
    }

    #[test]
    fn subscribe_options_round_trip() {
        let subs = [
            Subscription::new("tm/v1/+/readings", QoS::ExactlyOnce),
            Subscription {
                filter: "$share/servers/tm/v1/+/alerts",
                qos: QoS::AtLeastOnce,
                no_local: true,
                retain_as_published: true,
                retain_handling: RetainHandling::Never,
            },
        ];
        let s = Subscribe { packet_id: 7, subscription_id: Some(300), filters: &subs };
        let mut buf = [0u8; 128];
        let n = s.encode(Version::V5, &mut buf).unwrap();
        let mut got = Vec::new();
        let (id, sid) = Subscribe::decode(body(&buf[..n]), Version::V5, |s| got.push(s)).unwrap();
        assert_eq!((id, sid), (7, Some(300)));
        assert_eq!(got, subs);
    }

    #[test]
    fn bad_subscribes_are_refused() {
        let mut buf = [0u8; 64];
        let bad = [Subscription::new("a/#/b", QoS::AtMostOnce)];
        assert!(
            Subscribe { packet_id: 1, subscription_id: None, filters: &bad }
                .encode(Version::V5, &mut buf)
                .is_err()
        );
        assert!(
            Subscribe { packet_id: 1, subscription_id: None, filters: &[] }
                .encode(Version::V5, &mut buf)
                .is_err()
        );
        let ok = [Subscription::new("a", QoS::AtMostOnce)];
        assert_eq!(
            Subscribe { packet_id: 0, subscription_id: None, filters: &ok }.encode(Version::V5, &mut buf),
            Err(WireError::PacketIdZero.into())
        );
        // Options with QoS 3, reserved bits, retain handling 3.
        for options in [0x03u8, 0x40, 0x30] {
            let body = [0x00, 0x01, 0x00, 0x00, 0x01, b'a', options];
            assert!(Subscribe::decode(&body, Version::V5, |_| {}).is_err(), "{options:#x}");
        }
        assert!(Subscribe::decode(&[0x00, 0x01, 0x00, 0x01, b'a', 0x04], Version::V3_1_1, |_| {}).is_err());
        assert!(Subscribe::decode(&[0x00, 0x01], Version::V3_1_1, |_| {}).is_err(), "no filters");
    }

    #[test]
    fn subacks_and_unsubscribe() {
        let mut buf = [0u8; 64];
        for (kind, version, codes) in [
            (PacketType::Suback, Version::V3_1_1, &[0u8, 1, 0x80][..]),
            (PacketType::Suback, Version::V5, &[2, 0x87]),
            (PacketType::Unsuback, Version::V5, &[0, 0x11]),
            (PacketType::Unsuback, Version::V3_1_1, &[]),
        ] {
            let a = SubAck { kind, packet_id: 5, reason_string: None, codes };
            let n = a.encode(version, &mut buf).unwrap();
            assert_eq!(SubAck::decode(kind, body(&buf[..n]), version), Ok(a));
        }
        assert!(SubAck::decode(PacketType::Suback, &[0, 1, 0x03], Version::V3_1_1).is_err(), "code 3");
        assert!(SubAck::decode(PacketType::Suback, &[0, 1], Version::V3_1_1).is_err(), "no codes");
        let a =
            SubAck { kind: PacketType::Suback, packet_id: 5, reason_string: Some("quota"), codes: &[0x97] };
        let n = a.encode(Version::V5, &mut buf).unwrap();
        assert_eq!(SubAck::decode(PacketType::Suback, body(&buf[..n]), Version::V5), Ok(a));
        let n = Unsubscribe { packet_id: 3, filters: &["a/+", "b/#"] }.encode(Version::V5, &mut buf).unwrap();
        // a2 | 13 | id 3 | no properties | "a/+" | "b/#"
        assert_eq!(
            &buf[..n],
            &[0xa2, 0x0d, 0x00, 0x03, 0x00, 0x00, 0x03, b'a', b'/', b'+', 0x00, 0x03, b'b', b'/', b'#']
        );
        assert!(Unsubscribe { packet_id: 3, filters: &[] }.encode(Version::V5, &mut buf).is_err());
    }
}

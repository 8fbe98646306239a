//! MQTT 5 properties: identifiers, the per-packet reader that refuses unknown, misplaced and
//! repeated properties, and user properties.

use super::error::PacketError;
use super::wire::{PacketType, Reader};

/// Property identifiers (MQTT 5.0 section 2.2.2.2).
pub(crate) mod id {
    pub const PAYLOAD_FORMAT: u8 = 0x01;
    pub const MESSAGE_EXPIRY: u8 = 0x02;
    pub const CONTENT_TYPE: u8 = 0x03;
    pub const RESPONSE_TOPIC: u8 = 0x08;
    pub const CORRELATION_DATA: u8 = 0x09;
    pub const SUBSCRIPTION_ID: u8 = 0x0b;
    pub const REASON_STRING: u8 = 0x1f;
    pub const TOPIC_ALIAS: u8 = 0x23;
    pub const USER_PROPERTY: u8 = 0x26;
    pub const SESSION_EXPIRY: u8 = 0x11;
    pub const ASSIGNED_CLIENT_ID: u8 = 0x12;
    pub const SERVER_KEEP_ALIVE: u8 = 0x13;
    pub const AUTH_METHOD: u8 = 0x15;
    pub const AUTH_DATA: u8 = 0x16;
    pub const REQUEST_PROBLEM_INFO: u8 = 0x17;
    pub const WILL_DELAY: u8 = 0x18;
    pub const REQUEST_RESPONSE_INFO: u8 = 0x19;
    pub const RESPONSE_INFO: u8 = 0x1a;
    pub const SERVER_REFERENCE: u8 = 0x1c;
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    pub const MAXIMUM_QOS: u8 = 0x24;
    pub const RETAIN_AVAILABLE: u8 = 0x25;
    pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;
    pub const WILDCARD_AVAILABLE: u8 = 0x28;
    pub const SUBSCRIPTION_IDS_AVAILABLE: u8 = 0x29;
    pub const SHARED_AVAILABLE: u8 = 0x2a;
}

/// User properties: name-value pairs, in order, repeats allowed. Borrowed from a decoded packet,
/// or from the caller's list when encoding.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserProperties<'a> {
    /// Properties as received: the raw property bytes, filtered on iteration.
    raw: &'a [u8],
    /// Properties to send.
    list: &'a [(&'a str, &'a str)],
}

impl<'a> UserProperties<'a> {
    /// The user properties among raw received properties.
    pub(crate) fn received(raw: &'a [u8]) -> Self {
        UserProperties { raw, list: &[] }
    }

    /// Properties to send.
    pub fn from_pairs(list: &'a [(&'a str, &'a str)]) -> Self {
        UserProperties { raw: &[], list }
    }

    /// The name-value pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let list = self.list.iter().copied();
        // The raw bytes were validated when the packet was decoded.
        let mut props = Props::new(self.raw, PacketType::Publish, ANY);
        let raw = core::iter::from_fn(move || {
            loop {
                match props.next().ok()?? {
                    (_, Value::Pair(k, v)) => return Some((k, v)),
                    _ => continue,
                }
            }
        });
        list.chain(raw)
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

impl PartialEq for UserProperties<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for UserProperties<'_> {}

pub(crate) fn once<T>(slot: &mut Option<T>, id: u8, value: T) -> Result<(), PacketError> {
    if slot.replace(value).is_some() {
        return Err(PacketError::DuplicateProperty { id });
    }
    Ok(())
}

/// Splits off the property block (MQTT 5): its length, then that many bytes.
pub(crate) fn property_block<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], PacketError> {
    let len = r.var_int()? as usize;
    Ok(r.bytes(len)?)
}

/// Bytes of a variable byte integer holding `v`.
pub(crate) fn var_int_len(v: usize) -> usize {
    match v {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Every property identifier.
const ANY: &[u8] = &[
    0x01, 0x02, 0x03, 0x08, 0x09, 0x0b, 0x11, 0x12, 0x13, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1c, 0x1f,
    0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a,
];

/// A property value, by the type its identifier gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    Byte(u8),
    Two(u16),
    Four(u32),
    Var(u32),
    Str(&'a str),
    Bin(&'a [u8]),
    Pair(&'a str, &'a str),
}

/// Reads the properties of one packet, refusing identifiers not in `allowed` and repeats of
/// those that may appear once.
pub(crate) struct Props<'a> {
    r: Reader<'a>,
    kind: PacketType,
    allowed: &'static [u8],
    seen: u64,
}

impl<'a> Props<'a> {
    pub(crate) fn new(raw: &'a [u8], kind: PacketType, allowed: &'static [u8]) -> Self {
        Props { r: Reader::new(raw), kind, allowed, seen: 0 }
    }

    pub(crate) fn next(&mut self) -> Result<Option<(u8, Value<'a>)>, PacketError> {
        if self.r.remaining().is_empty() {
            return Ok(None);
        }
        let id = self.r.u8()?;
        if !self.allowed.contains(&id) {
            return Err(PacketError::UnexpectedProperty { id, kind: self.kind });
        }
        if id != id::USER_PROPERTY && id != id::SUBSCRIPTION_ID {
            let bit = 1u64 << (id & 63);
            if self.seen & bit != 0 {
                return Err(PacketError::DuplicateProperty { id });
            }
            self.seen |= bit;
        }
        let r = &mut self.r;
        let value = match id {
            0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2a => Value::Byte(r.u8()?),
            0x13 | 0x21 | 0x22 | 0x23 => Value::Two(r.u16()?),
            0x02 | 0x11 | 0x18 | 0x27 => Value::Four(r.u32()?),
            0x0b => Value::Var(r.var_int()?),
            0x09 | 0x16 => Value::Bin(r.binary()?),
            0x26 => Value::Pair(r.string()?, r.string()?),
            _ => Value::Str(r.string()?),
        };
        Ok(Some((id, value)))
    }
}

/// A boolean property (0 or 1).
pub(crate) fn flag(id: u8, v: u8) -> Result<bool, PacketError> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(PacketError::BadPropertyValue { id }),
    }
}

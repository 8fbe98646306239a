//! The MQTT wire primitives (MQTT 5.0 sections 1.5 and 2.1; 3.1.1 uses the same): variable
//! byte integers, the fixed header with its per-type flag rules, and readers and writers of
//! integers, UTF-8 strings and binary data that reject what the specification calls malformed.
//! No allocation; bytes in, values or typed errors out.
//!
//! ```
//! use telemetra_transports::mqtt::packet::wire::{FixedHeader, PacketType, WireError};
//! // A PUBLISH at QoS 1 with 10 bytes after the fixed header.
//! let (h, len) = FixedHeader::parse(&[0x32, 10], 1024).unwrap().unwrap();
//! assert_eq!((h.kind, h.flags, h.remaining, len), (PacketType::Publish, 0b0010, 10, 2));
//! // QoS 3 does not exist.
//! assert_eq!(FixedHeader::parse(&[0x36, 0], 1024), Err(WireError::Qos3));
//! // Not enough bytes yet: ask for more.
//! assert_eq!(FixedHeader::parse(&[0x30, 0x80], 1024), Ok(None));
//! ```

/// The largest value a variable byte integer holds: 268,435,455 (four bytes).
pub const MAX_VAR_INT: u32 = 268_435_455;

/// An MQTT control packet type (the high nibble of the first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// Client request to connect.
    Connect = 1,
    /// Connect acknowledgement.
    Connack = 2,
    /// Publish message.
    Publish = 3,
    /// Publish acknowledgement (QoS 1).
    Puback = 4,
    /// Publish received (QoS 2, part 1).
    Pubrec = 5,
    /// Publish release (QoS 2, part 2).
    Pubrel = 6,
    /// Publish complete (QoS 2, part 3).
    Pubcomp = 7,
    /// Subscribe request.
    Subscribe = 8,
    /// Subscribe acknowledgement.
    Suback = 9,
    /// Unsubscribe request.
    Unsubscribe = 10,
    /// Unsubscribe acknowledgement.
    Unsuback = 11,
    /// Ping request.
    Pingreq = 12,
    /// Ping response.
    Pingresp = 13,
    /// Disconnect notification.
    Disconnect = 14,
    /// Authentication exchange (MQTT 5 only).
    Auth = 15,
}

impl PacketType {
    fn from_nibble(n: u8) -> Option<Self> {
        use PacketType::*;
        Some(match n {
            1 => Connect,
            2 => Connack,
            3 => Publish,
            4 => Puback,
            5 => Pubrec,
            6 => Pubrel,
            7 => Pubcomp,
            8 => Subscribe,
            9 => Suback,
            10 => Unsubscribe,
            11 => Unsuback,
            12 => Pingreq,
            13 => Pingresp,
            14 => Disconnect,
            15 => Auth,
            _ => return None,
        })
    }

    /// The flags every packet of this type must carry; `None` for PUBLISH, whose flags vary.
    pub const fn required_flags(self) -> Option<u8> {
        match self {
            PacketType::Publish => None,
            PacketType::Pubrel | PacketType::Subscribe | PacketType::Unsubscribe => Some(0b0010),
            _ => Some(0),
        }
    }
}

/// Input that is not valid MQTT. Each variant is one of the malformations the MQTT 5.0
/// specification names; a client closes the connection on any of them (with DISCONNECT
/// reason 0x81 Malformed Packet, or 0x95 Packet Too Large, in MQTT 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// A variable byte integer runs past four bytes.
    #[error("variable byte integer longer than 4 bytes")]
    VarIntTooLong,
    /// Packet type 0 is reserved.
    #[error("reserved packet type 0")]
    ReservedType,
    /// The fixed header flags are not the ones this packet type requires.
    #[error("fixed header flags {flags:#06b} are invalid for {kind:?}")]
    BadFlags {
        /// The packet type.
        kind: PacketType,
        /// The flags found.
        flags: u8,
    },
    /// A PUBLISH with both QoS bits set.
    #[error("QoS 3 does not exist")]
    Qos3,
    /// The packet is larger than the Maximum Packet Size in force.
    #[error("packet of {size} bytes exceeds the maximum packet size of {max}")]
    TooLarge {
        /// The packet's full size.
        size: u32,
        /// The limit.
        max: u32,
    },
    /// The packet ended in the middle of a field.
    #[error("packet ends in the middle of a field")]
    Truncated,
    /// A string is not well-formed UTF-8.
    #[error("string is not well-formed UTF-8")]
    BadUtf8,
    /// A string contains U+0000.
    #[error("string contains the null character U+0000")]
    NullChar,
    /// A packet identifier of 0, which MQTT forbids.
    #[error("packet identifier 0")]
    PacketIdZero,
    /// The output buffer is full.
    #[error("output buffer too small")]
    BufferFull,
}

/// Decodes a variable byte integer from the front of `buf`: `Ok(None)` if more bytes are
/// needed, otherwise the value and the bytes it took.
pub fn read_var_int(buf: &[u8]) -> Result<Option<(u32, usize)>, WireError> {
    let mut value = 0u32;
    for i in 0..4 {
        let Some(&byte) = buf.get(i) else { return Ok(None) };
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    Err(WireError::VarIntTooLong)
}

/// Encodes a variable byte integer (`value <= MAX_VAR_INT`) into `out`; returns its length.
pub fn write_var_int(mut value: u32, out: &mut [u8]) -> Result<usize, WireError> {
    if value > MAX_VAR_INT {
        return Err(WireError::TooLarge { size: value, max: MAX_VAR_INT });
    }
    let mut i = 0;
    loop {
        let mut byte = (value & 0x7f) as u8;
        value >>= 7;
        if value > 0 {
            byte |= 0x80;
        }
        *out.get_mut(i).ok_or(WireError::BufferFull)? = byte;
        i += 1;
        if value == 0 {
            return Ok(i);
        }
    }
}

/// The first bytes of every packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    /// The packet type.
    pub kind: PacketType,
    /// The four flag bits (for PUBLISH: DUP, QoS, RETAIN).
    pub flags: u8,
    /// Bytes after the fixed header.
    pub remaining: u32,
}

impl FixedHeader {
    /// Parses a fixed header from the front of `buf`, checking type, flags and size against
    /// `max_packet_size`. `Ok(None)` means more bytes are needed; on success, returns the
    /// header and its length in bytes.
    pub fn parse(buf: &[u8], max_packet_size: u32) -> Result<Option<(FixedHeader, usize)>, WireError> {
        let Some(&first) = buf.first() else { return Ok(None) };
        let kind = PacketType::from_nibble(first >> 4).ok_or(WireError::ReservedType)?;
        let flags = first & 0x0f;
        match kind.required_flags() {
            Some(required) if flags != required => return Err(WireError::BadFlags { kind, flags }),
            None if flags & 0b0110 == 0b0110 => return Err(WireError::Qos3),
            _ => {}
        }
        let Some((remaining, len)) = read_var_int(&buf[1..])? else { return Ok(None) };
        let size = remaining.saturating_add(1 + len as u32);
        if size > max_packet_size {
            return Err(WireError::TooLarge { size, max: max_packet_size });
        }
        Ok(Some((FixedHeader { kind, flags, remaining }, 1 + len)))
    }

    /// Writes the header into `out`; returns its length.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, WireError> {
        *out.first_mut().ok_or(WireError::BufferFull)? = ((self.kind as u8) << 4) | (self.flags & 0x0f);
        Ok(1 + write_var_int(self.remaining, &mut out[1..])?)
    }
}

/// Reads the fields of a packet body, front to back.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over a packet body.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.buf
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.buf.len() < n {
            return Err(WireError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// A byte.
    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.bytes(1)?[0])
    }

    /// A two-byte big-endian integer.
    pub fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A four-byte big-endian integer.
    pub fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A variable byte integer.
    pub fn var_int(&mut self) -> Result<u32, WireError> {
        let (v, n) = read_var_int(self.buf)?.ok_or(WireError::Truncated)?;
        self.buf = &self.buf[n..];
        Ok(v)
    }

    /// A packet identifier: a non-zero two-byte integer.
    pub fn packet_id(&mut self) -> Result<u16, WireError> {
        match self.u16()? {
            0 => Err(WireError::PacketIdZero),
            id => Ok(id),
        }
    }

    /// Binary data: a two-byte length, then that many bytes.
    pub fn binary(&mut self) -> Result<&'a [u8], WireError> {
        let n = usize::from(self.u16()?);
        self.bytes(n)
    }

    /// A UTF-8 encoded string: well-formed UTF-8 without U+0000 (section 1.5.4).
    pub fn string(&mut self) -> Result<&'a str, WireError> {
        let s = core::str::from_utf8(self.binary()?).map_err(|_| WireError::BadUtf8)?;
        if s.contains('\0') {
            return Err(WireError::NullChar);
        }
        Ok(s)
    }
}

/// Writes the fields of a packet into a caller's buffer, or only counts them.
#[derive(Debug)]
pub struct Writer<'a> {
    out: &'a mut [u8],
    pos: usize,
    count_only: bool,
}

impl<'a> Writer<'a> {
    /// A writer at the start of `out`.
    pub fn new(out: &'a mut [u8]) -> Self {
        Writer { out, pos: 0, count_only: false }
    }

    /// A writer that writes nothing and counts the bytes it would write: the same code
    /// measures a block (a property block's length prefix) and then writes it.
    pub fn counting() -> Writer<'static> {
        Writer { out: &mut [], pos: 0, count_only: true }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.pos
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }

    /// Raw bytes.
    pub fn bytes(&mut self, b: &[u8]) -> Result<(), WireError> {
        let end = self.pos + b.len();
        if !self.count_only {
            self.out.get_mut(self.pos..end).ok_or(WireError::BufferFull)?.copy_from_slice(b);
        }
        self.pos = end;
        Ok(())
    }

    /// A byte.
    pub fn u8(&mut self, v: u8) -> Result<(), WireError> {
        self.bytes(&[v])
    }

    /// A two-byte big-endian integer.
    pub fn u16(&mut self, v: u16) -> Result<(), WireError> {
        self.bytes(&v.to_be_bytes())
    }

    /// A four-byte big-endian integer.
    pub fn u32(&mut self, v: u32) -> Result<(), WireError> {
        self.bytes(&v.to_be_bytes())
    }

    /// A variable byte integer.
    pub fn var_int(&mut self, v: u32) -> Result<(), WireError> {
        let mut tmp = [0u8; 4];
        let n = write_var_int(v, &mut tmp)?;
        self.bytes(&tmp[..n])
    }

    /// Binary data of at most 65,535 bytes.
    pub fn binary(&mut self, b: &[u8]) -> Result<(), WireError> {
        let n =
            u16::try_from(b.len()).map_err(|_| WireError::TooLarge { size: b.len() as u32, max: 65_535 })?;
        self.u16(n)?;
        self.bytes(b)
    }

    /// A UTF-8 string, refusing U+0000 as the receiver would.
    pub fn string(&mut self, s: &str) -> Result<(), WireError> {
        if s.contains('\0') {
            return Err(WireError::NullChar);
        }
        self.binary(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn variable_byte_integers_at_their_boundaries() {
        // MQTT 5.0 table 1-1.
        for (v, bytes) in [
            (0u32, &[0x00][..]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xff, 0x7f]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xff, 0xff, 0x7f]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (MAX_VAR_INT, &[0xff, 0xff, 0xff, 0x7f]),
        ] {
            let mut out = [0u8; 4];
            let n = write_var_int(v, &mut out).unwrap();
            assert_eq!(&out[..n], bytes, "{v}");
            assert_eq!(read_var_int(bytes), Ok(Some((v, bytes.len()))));
        }
        assert_eq!(read_var_int(&[0xff, 0xff, 0xff, 0xff, 0x01]), Err(WireError::VarIntTooLong));
        assert_eq!(read_var_int(&[0x80, 0x80]), Ok(None));
        assert!(write_var_int(MAX_VAR_INT + 1, &mut [0; 8]).is_err());
    }

    #[test]
    fn fixed_header_flags_per_type() {
        let max = 1 << 20;
        assert_eq!(FixedHeader::parse(&[0x00, 0x00], max), Err(WireError::ReservedType));
        assert_eq!(FixedHeader::parse(&[0x62, 0x02], max).unwrap().unwrap().0.kind, PacketType::Pubrel);
        assert_eq!(
            FixedHeader::parse(&[0x60, 0x02], max),
            Err(WireError::BadFlags { kind: PacketType::Pubrel, flags: 0 })
        );
        assert_eq!(
            FixedHeader::parse(&[0x80, 0x02], max),
            Err(WireError::BadFlags { kind: PacketType::Subscribe, flags: 0 })
        );
        assert_eq!(
            FixedHeader::parse(&[0xc1, 0x00], max),
            Err(WireError::BadFlags { kind: PacketType::Pingreq, flags: 1 })
        );
        assert_eq!(FixedHeader::parse(&[0x3f, 0x00], max), Err(WireError::Qos3));
        assert!(FixedHeader::parse(&[0x3d, 0x00], max).unwrap().is_some(), "DUP, QoS 2, RETAIN");
        assert_eq!(
            FixedHeader::parse(&[0x30, 0xff, 0x7f], 100),
            Err(WireError::TooLarge { size: 16_386, max: 100 })
        );
        assert_eq!(FixedHeader::parse(&[0x30, 0xff, 0xff, 0xff, 0xff], max), Err(WireError::VarIntTooLong));
        let h = FixedHeader { kind: PacketType::Subscribe, flags: 0b0010, remaining: 300 };
        let mut out = [0u8; 5];
        let n = h.write(&mut out).unwrap();
        assert_eq!(FixedHeader::parse(&out[..n], max), Ok(Some((h, n))));
    }

    #[test]
    fn strings_ids_and_truncation() {
        let mut r = Reader::new(&[0x00, 0x02, b'h', b'i', 0x00, 0x01, 0x00, 0x00]);
        assert_eq!(r.string(), Ok("hi"));
        assert_eq!(r.packet_id(), Ok(1));
        assert_eq!(r.packet_id(), Err(WireError::PacketIdZero));
        assert_eq!(Reader::new(&[0x00, 0x01, 0x00]).string(), Err(WireError::NullChar));
        assert_eq!(Reader::new(&[0x00, 0x02, 0xc3, 0x28]).string(), Err(WireError::BadUtf8));
        assert_eq!(Reader::new(&[0x00, 0x05, b'a']).string(), Err(WireError::Truncated));
        assert_eq!(Reader::new(&[0x80]).var_int(), Err(WireError::Truncated));
        let mut buf = [0u8; 8];
        let mut w = Writer::new(&mut buf);
        assert_eq!(w.string("a\0"), Err(WireError::NullChar));
        w.string("ok").unwrap();
        w.var_int(200).unwrap();
        assert_eq!(w.len(), 6);
        assert_eq!(w.u32(1), Err(WireError::BufferFull));
    }

    proptest! {
        #[test]
        fn var_ints_round_trip(v in 0..=MAX_VAR_INT) {
            let mut out = [0u8; 4];
            let n = write_var_int(v, &mut out).unwrap();
            prop_assert_eq!(read_var_int(&out[..n]).unwrap(), Some((v, n)));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), max in any::<u32>()) {
            let _ = FixedHeader::parse(&bytes, max);
            let mut r = Reader::new(&bytes);
            let _ = (r.string(), r.var_int(), r.packet_id(), r.binary(), r.u32());
        }
    }
}

//! Shared encoding helpers: a whole packet from its body, property blocks, single properties.

use super::error::PacketError;
use super::properties::{UserProperties, id};
use super::wire::{FixedHeader, PacketType, WireError, Writer};

/// Writes a packet: the fixed header (type, `flags`, the body's length) and the body that
/// `body` writes. The body is written twice, first by a counting writer to learn its length.
pub(crate) fn packet(
    kind: PacketType,
    flags: u8,
    out: &mut [u8],
    body: impl Fn(&mut Writer<'_>) -> Result<(), PacketError>,
) -> Result<usize, PacketError> {
    let mut c = Writer::counting();
    body(&mut c)?;
    let remaining = u32::try_from(c.len()).map_err(|_| WireError::TooLarge { size: u32::MAX, max: 0 })?;
    let mut head = [0u8; 5];
    let n = FixedHeader { kind, flags, remaining }.write(&mut head)?;
    let mut w = Writer::new(out);
    w.bytes(&head[..n])?;
    body(&mut w)?;
    Ok(w.len())
}

/// Writes an MQTT 5 property block: its length, then the properties `props` writes.
pub(crate) fn block(
    w: &mut Writer<'_>,
    props: impl Fn(&mut Writer<'_>) -> Result<(), WireError>,
) -> Result<(), WireError> {
    let mut c = Writer::counting();
    props(&mut c)?;
    w.var_int(c.len() as u32)?;
    props(w)
}

/// A one-byte property (a flag as 0 or 1), if present.
pub(crate) fn byte(w: &mut Writer<'_>, pid: u8, v: Option<u8>) -> Result<(), WireError> {
    v.map_or(Ok(()), |v| w.u8(pid).and_then(|_| w.u8(v)))
}

/// A two-byte property, if present.
pub(crate) fn two(w: &mut Writer<'_>, pid: u8, v: Option<u16>) -> Result<(), WireError> {
    v.map_or(Ok(()), |v| w.u8(pid).and_then(|_| w.u16(v)))
}

/// A four-byte property, if present.
pub(crate) fn four(w: &mut Writer<'_>, pid: u8, v: Option<u32>) -> Result<(), WireError> {
    v.map_or(Ok(()), |v| w.u8(pid).and_then(|_| w.u32(v)))
}

/// A variable-byte-integer property, if present.
pub(crate) fn var(w: &mut Writer<'_>, pid: u8, v: Option<u32>) -> Result<(), WireError> {
    v.map_or(Ok(()), |v| w.u8(pid).and_then(|_| w.var_int(v)))
}

/// A string property, if present.
pub(crate) fn string(w: &mut Writer<'_>, pid: u8, v: Option<&str>) -> Result<(), WireError> {
    v.map_or(Ok(()), |v| w.u8(pid).and_then(|_| w.string(v)))
}

/// A binary property, if present.
pub(crate) fn binary(w: &mut Writer<'_>, pid: u8, v: Option<&[u8]>) -> Result<(), WireError> {
    v.map_or(Ok(()), |v| w.u8(pid).and_then(|_| w.binary(v)))
}

/// Every user property.
pub(crate) fn user(w: &mut Writer<'_>, user: &UserProperties<'_>) -> Result<(), WireError> {
    for (k, v) in user.iter() {
        w.u8(id::USER_PROPERTY)?;
        w.string(k)?;
        w.string(v)?;
    }
    Ok(())
}

//! SenML CBOR (RFC 8428 section 6), by minicbor: integer labels, preferred serialization
//! (integers for whole numbers, else the shortest float that keeps the value exactly).

use alloc::string::String;
use alloc::vec::Vec;

use minicbor::data::Type;
use minicbor::{Decoder, Encoder};

use super::SenmlError;
use super::json::is_integral;
use super::record::Record;

const BVER: i8 = -1;
const BN: i8 = -2;
const BT: i8 = -3;
const BU: i8 = -4;
const BV: i8 = -5;
const BS: i8 = -6;
const N: i8 = 0;
const U: i8 = 1;
const V: i8 = 2;
const VS: i8 = 3;
const VB: i8 = 4;
const S: i8 = 5;
const T: i8 = 6;
const UT: i8 = 7;
const VD: i8 = 8;

/// The bits of `v` as an IEEE half float, if it is one exactly.
fn to_f16(v: f64) -> Option<u16> {
    let bits = v.to_bits();
    let sign = ((bits >> 48) & 0x8000) as u16;
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1023;
    let mantissa = bits & ((1 << 52) - 1);
    if !v.is_finite() {
        return None;
    }
    if v == 0.0 {
        return Some(sign);
    }
    if (-14..=15).contains(&exp) && mantissa & ((1 << 42) - 1) == 0 {
        return Some(sign | (((exp + 15) as u16) << 10) | (mantissa >> 42) as u16);
    }
    // Subnormal halves: m * 2^-24 with 0 < m < 1024.
    let m = f64::from_bits(bits & !(1 << 63)) * 16_777_216.0;
    (m < 1024.0 && (m as u16) as f64 == m).then_some(sign | m as u16)
}

fn from_f16(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = (h >> 10) & 0x1f;
    let frac = u64::from(h & 0x3ff);
    match exp {
        0 => sign * frac as f64 / 16_777_216.0,
        31 if frac == 0 => sign * f64::INFINITY,
        31 => f64::NAN,
        e => f64::from_bits(u64::from(h >> 15) << 63 | (u64::from(e) + 1023 - 15) << 52 | frac << 42),
    }
}

type Enc<'a> = Encoder<&'a mut Vec<u8>>;
type EncResult = Result<(), minicbor::encode::Error<core::convert::Infallible>>;

fn put_number(e: &mut Enc<'_>, v: f64) -> EncResult {
    if is_integral(v) {
        e.i64(v as i64)?;
    } else if let Some(h) = to_f16(v) {
        // Simple value 25: a half float in the next two bytes, big-endian.
        e.writer_mut().extend_from_slice(&[0xf9, (h >> 8) as u8, h as u8]);
    } else if (v as f32) as f64 == v || v.is_nan() {
        e.f32(v as f32)?;
    } else {
        e.f64(v)?;
    }
    Ok(())
}

fn put_record(e: &mut Enc<'_>, r: &Record) -> EncResult {
    let fields = [
        r.base_name.is_some(),
        r.base_time.is_some(),
        r.base_unit.is_some(),
        r.base_value.is_some(),
        r.base_sum.is_some(),
        r.base_version.is_some(),
        r.name.is_some(),
        r.unit.is_some(),
        r.time.is_some(),
        r.update_time.is_some(),
        r.value.is_some(),
        r.string_value.is_some(),
        r.bool_value.is_some(),
        r.data_value.is_some(),
        r.sum.is_some(),
    ];
    e.map(fields.iter().filter(|f| **f).count() as u64)?;
    if let Some(x) = &r.base_name {
        e.i8(BN)?.str(x)?;
    }
    if let Some(x) = r.base_time {
        e.i8(BT)?;
        put_number(e, x)?;
    }
    if let Some(x) = &r.base_unit {
        e.i8(BU)?.str(x)?;
    }
    if let Some(x) = r.base_value {
        e.i8(BV)?;
        put_number(e, x)?;
    }
    if let Some(x) = r.base_sum {
        e.i8(BS)?;
        put_number(e, x)?;
    }
    if let Some(x) = r.base_version {
        e.i8(BVER)?.u64(x)?;
    }
    if let Some(x) = &r.name {
        e.i8(N)?.str(x)?;
    }
    if let Some(x) = &r.unit {
        e.i8(U)?.str(x)?;
    }
    if let Some(x) = r.time {
        e.i8(T)?;
        put_number(e, x)?;
    }
    if let Some(x) = r.update_time {
        e.i8(UT)?;
        put_number(e, x)?;
    }
    if let Some(x) = r.value {
        e.i8(V)?;
        put_number(e, x)?;
    }
    if let Some(x) = &r.string_value {
        e.i8(VS)?.str(x)?;
    }
    if let Some(x) = r.bool_value {
        e.i8(VB)?.bool(x)?;
    }
    if let Some(x) = &r.data_value {
        e.i8(VD)?.bytes(x)?;
    }
    if let Some(x) = r.sum {
        e.i8(S)?;
        put_number(e, x)?;
    }
    Ok(())
}

/// Writes a SenML CBOR pack.
pub fn to_cbor(pack: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut e = Encoder::new(&mut out);
    // Writing to a Vec cannot fail.
    let _ = e.array(pack.len() as u64).map(|_| ());
    for r in pack {
        let _ = put_record(&mut e, r);
    }
    out
}

fn fail(d: &Decoder<'_>) -> SenmlError {
    SenmlError::Cbor { at: d.position() }
}

fn number(d: &mut Decoder<'_>) -> Result<f64, SenmlError> {
    match d.datatype().map_err(|_| fail(d))? {
        Type::U8
        | Type::U16
        | Type::U32
        | Type::U64
        | Type::I8
        | Type::I16
        | Type::I32
        | Type::I64
        | Type::Int => {
            let i = d.int().map_err(|_| fail(d))?;
            Ok(i128::from(i) as f64)
        }
        Type::F16 => {
            let at = d.position();
            let raw = d.input().get(at + 1..at + 3).ok_or(SenmlError::Cbor { at })?;
            let h = u16::from_be_bytes([raw[0], raw[1]]);
            d.set_position(at + 3);
            Ok(from_f16(h))
        }
        Type::F32 | Type::F64 => d.f64().map_err(|_| fail(d)),
        _ => Err(fail(d)),
    }
}

fn text(d: &mut Decoder<'_>) -> Result<String, SenmlError> {
    d.str().map(String::from).map_err(|_| fail(d))
}

fn record(d: &mut Decoder<'_>, index: usize) -> Result<Record, SenmlError> {
    let n = d.map().map_err(|_| fail(d))?.ok_or_else(|| fail(d))?;
    let mut r = Record::default();
    for _ in 0..n {
        if d.datatype().map_err(|_| fail(d))? == Type::String {
            // Text labels are for extensions; one ending in '_' must be understood.
            let label = d.str().map_err(|_| fail(d))?;
            if label.ends_with('_') {
                return Err(SenmlError::MustUnderstand { index });
            }
            d.skip().map_err(|_| fail(d))?;
            continue;
        }
        let label = d.i64().map_err(|_| fail(d))?;
        match label {
            -2 => r.base_name = Some(text(d)?),
            -3 => r.base_time = Some(number(d)?),
            -4 => r.base_unit = Some(text(d)?),
            -5 => r.base_value = Some(number(d)?),
            -6 => r.base_sum = Some(number(d)?),
            -1 => r.base_version = Some(d.u64().map_err(|_| fail(d))?),
            0 => r.name = Some(text(d)?),
            1 => r.unit = Some(text(d)?),
            2 => r.value = Some(number(d)?),
            3 => r.string_value = Some(text(d)?),
            4 => r.bool_value = Some(d.bool().map_err(|_| fail(d))?),
            5 => r.sum = Some(number(d)?),
            6 => r.time = Some(number(d)?),
            7 => r.update_time = Some(number(d)?),
            8 => r.data_value = Some(d.bytes().map_err(|_| fail(d))?.to_vec()),
            _ => d.skip().map_err(|_| fail(d))?,
        }
    }
    Ok(r)
}

/// Reads a SenML CBOR pack (an array of maps with integer labels).
pub fn from_cbor(bytes: &[u8]) -> Result<Vec<Record>, SenmlError> {
    let mut d = Decoder::new(bytes);
    let n = d.array().map_err(|_| fail(&d))?.ok_or_else(|| fail(&d))?;
    // Each record takes at least one byte: never reserve more than the input can describe.
    let mut pack = Vec::with_capacity(usize::try_from(n).unwrap_or(usize::MAX).min(bytes.len()));
    for index in 0..n {
        pack.push(record(&mut d, index as usize)?);
    }
    if d.position() != bytes.len() {
        return Err(fail(&d));
    }
    Ok(pack)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_floats_convert_both_ways() {
        for v in [0.0, -0.0, 1.5, -2.0, 65504.0, 0.000_061_035_156_25, 5.960_464_477_539_063e-8, 0.5] {
            let h = to_f16(v).unwrap_or_else(|| panic!("{v} is a half"));
            assert_eq!(from_f16(h).to_bits(), v.to_bits(), "{v}");
        }
        for v in [1.2, 65520.0, 1e-9, f64::NAN, f64::INFINITY] {
            assert_eq!(to_f16(v), None, "{v}");
        }
    }
}

//! A measured number, kept in the form the sensor gave it.
//!
//! Sensors report resolutions (0.1 °C, 1 hPa, 1e-7 degrees), and the wire format stores such a
//! value as a decimal `m / 10^k` in a few bytes. A [`Number`] keeps that decimal as integers, so
//! a firmware that makes numbers from `f32` readings or scaled integers, encodes and decodes
//! them never does double-precision arithmetic (a Cortex-M4F has a single-precision FPU; the
//! soft-float routines for `f64` cost kilobytes). Only [`Number::to_f64`] computes a double,
//! where a server or the rule engine needs one.
//!
//! | made from | kept as |
//! |---|---|
//! | [`Number::decimal(215, 1)`](Number::decimal) | the decimal 21.5 (integers only) |
//! | `f32` ([`From<f32>`]) | its shortest decimal that reads back as the same `f32` (21.7f32 is 21.7), found with `f32` arithmetic; otherwise its exact value as a double |
//! | `f64` ([`From<f64>`]) | its shortest exact decimal with at most 15 places, otherwise the double |
//!
//! A decimal costs 2 to 4 bytes on the wire, a double 9. Two numbers are equal when their
//! values are (NaN is unequal to everything, as for `f64`).
//!
//! ```
//! use telemetra_core::Number;
//! assert_eq!(Number::from(21.7f32).as_decimal(), Some((217, 1)));
//! assert_eq!(Number::from(21.7f32), Number::from(21.7f64));
//! assert_eq!(Number::decimal(2150, 2), Number::decimal(215, 1));
//! assert_eq!(Number::decimal(473_769_123, 7).map(Number::to_f64), Some(47.376_912_3));
//! ```

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::decimal;

/// A number: an exact decimal, or an IEEE 754 double when it has no short decimal form.
#[derive(Clone, Copy)]
pub struct Number(Repr);

#[derive(Debug, Clone, Copy)]
enum Repr {
    /// `m / 10^k`, `k <= 15`, `|m| < 2^59`; as made or received (21.5 may be `(2150, 2)`:
    /// shortening it would take 64-bit divisions, which a Cortex-M does in software).
    Decimal(i64, u8),
    /// A double with no decimal form of at most 15 places (NaN, infinities, -0.0, 0.1 + 0.2).
    Float(f64),
}

/// `10^k` for `k <= 10`, all exact in `f32`.
const POW10_F32: [f32; 11] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];

/// Mantissas are below 2^59 in magnitude, so that `zigzag(m) << 4 | k` fits 64 bits.
const MANTISSA_LIMIT: u64 = 1 << 59;

/// 2^24: integers of smaller magnitude are exact in `f32`.
const F32_EXACT_INT: f32 = 16_777_216.0;

impl Number {
    /// Zero.
    pub const ZERO: Number = Number(Repr::Decimal(0, 0));

    /// The decimal `mantissa / 10^scale`, kept as given; `None` when `scale` is over 15 or the
    /// mantissa's magnitude is 2^59 or more.
    pub const fn decimal(mantissa: i64, scale: u8) -> Option<Number> {
        if scale > decimal::MAX_SCALE || mantissa.unsigned_abs() >= MANTISSA_LIMIT {
            return None;
        }
        Some(Number(Repr::Decimal(mantissa, scale)))
    }

    /// An integer; `None` when its magnitude is 2^59 or more.
    pub const fn integer(value: i64) -> Option<Number> {
        Number::decimal(value, 0)
    }

    /// The number an `f64` holds (see the module docs).
    pub fn from_f64(v: f64) -> Number {
        match decimal::to_decimal(v) {
            Some((m, k)) => Number(Repr::Decimal(m, k)),
            None => Number(Repr::Float(v)),
        }
    }

    /// The number an `f32` reading means: its shortest decimal of at most 10 places that reads
    /// back as the same `f32`, found with single-precision arithmetic only; otherwise (NaN, the
    /// infinities, -0.0, extreme magnitudes) its exact value as a double, widened without
    /// double-precision arithmetic.
    pub fn from_f32(v: f32) -> Number {
        if v == 0.0 {
            // -0.0 keeps its sign, as a double.
            return if v.is_sign_positive() { Number::ZERO } else { Number(Repr::Float(-0.0)) };
        }
        for (k, &p) in POW10_F32.iter().enumerate() {
            let x = v * p;
            // Also rejects NaN and the infinities.
            if !(x > -F32_EXACT_INT && x < F32_EXACT_INT) {
                break;
            }
            // Round to nearest; from 2^23 up every f32 is an integer already (and adding 0.5
            // would round again).
            let m = if !(x > -8_388_608.0 && x < 8_388_608.0) {
                x as i32
            } else if x >= 0.0 {
                (x + 0.5) as i32
            } else {
                (x - 0.5) as i32
            };
            // The product was rounded, so the mantissa may be a neighbour of `m`. Each candidate
            // and `p` are exact in f32, so the division is the correctly rounded m / 10^k.
            for m in [m, m.saturating_sub(1), m.saturating_add(1)] {
                if (m as f32 / p).to_bits() == v.to_bits() {
                    return Number(Repr::Decimal(i64::from(m), k as u8));
                }
            }
        }
        // From 2^24 up every f32 is an integer; below 2^59 it is exact as a mantissa.
        if let Some(i) = large_integer(v.to_bits()) {
            return Number(Repr::Decimal(i, 0));
        }
        Number(Repr::Float(f64::from_bits(crate::ieee::widen(v.to_bits()))))
    }

    /// A double kept as it is, without looking for a decimal form (that takes double
    /// arithmetic): what a decoder makes of a number sent as its 8 IEEE bytes. It equals
    /// [`Number::from_f64`] of the same double.
    pub const fn raw(v: f64) -> Number {
        Number(Repr::Float(v))
    }

    /// The decimal form `(mantissa, scale)`, if the number has one: as made or received
    /// (numbers made from `f32` and `f64` have the shortest form).
    pub const fn as_decimal(self) -> Option<(i64, u8)> {
        match self.0 {
            Repr::Decimal(m, k) => Some((m, k)),
            Repr::Float(_) => None,
        }
    }

    /// The value as an `f32`: the double [`Number::to_f64`] gives, rounded to the nearest
    /// `f32`. No double arithmetic on microcontrollers (see [`crate::ieee`]), so a firmware
    /// that computes in single precision links no double-precision soft-float.
    pub fn to_f32(self) -> f32 {
        crate::ieee::narrow(self.to_f64())
    }

    /// The value as a double: `m / 10^k` correctly rounded, or the double itself.
    pub fn to_f64(self) -> f64 {
        match self.0 {
            // k <= 15 by construction, so `from_decimal` always answers.
            Repr::Decimal(m, k) => decimal::from_decimal(m, k).unwrap_or(f64::NAN),
            Repr::Float(v) => v,
        }
    }
}

/// The integer an `f32` with bits `b` holds, if its magnitude is in [2^24, 2^59), by integer
/// arithmetic.
const fn large_integer(b: u32) -> Option<i64> {
    let exp = ((b >> 23) & 0xff) as i32 - 127;
    if exp < 24 || exp >= 59 {
        return None;
    }
    let magnitude = (((b & 0x7f_ffff) | 0x80_0000) as i64) << (exp - 23);
    Some(if b >> 31 == 1 { -magnitude } else { magnitude })
}

impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        match (self.0, other.0) {
            // Bring both to the larger scale: a * 10^(j - i) == b, by multiplication only.
            (Repr::Decimal(a, i), Repr::Decimal(b, j)) => {
                let (small, k_small, large, k_large) = if i <= j { (a, i, b, j) } else { (b, j, a, i) };
                let mut scaled = Some(small);
                for _ in k_small..k_large {
                    scaled = scaled.and_then(|m| m.checked_mul(10));
                }
                scaled == Some(large)
            }
            // Compared as doubles, by their bits: no double arithmetic on a microcontroller.
            _ => crate::ieee::same_value(self.to_f64(), other.to_f64()),
        }
    }
}

impl core::fmt::Debug for Number {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(&self.to_f64(), f)
    }
}

impl core::fmt::Display for Number {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&self.to_f64(), f)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Number {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self.0 {
            Repr::Decimal(m, k) => defmt::write!(f, "{=i64}e-{=u8}", m, k),
            Repr::Float(v) => defmt::write!(f, "{=u64:#x} (f64 bits)", v.to_bits()),
        }
    }
}

impl From<f64> for Number {
    fn from(v: f64) -> Number {
        Number::from_f64(v)
    }
}

impl From<f32> for Number {
    fn from(v: f32) -> Number {
        Number::from_f32(v)
    }
}

/// On the wire (postcard): `Decimal(zigzag(m) << 4 | k)` or `Raw(f64)`, the encoding of
/// version 1; human-readable formats get a plain number.
#[derive(Serialize, Deserialize)]
enum Wire {
    Decimal(u64),
    Raw(f64),
}

fn zigzag(m: i64) -> u64 {
    ((m << 1) ^ (m >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            return s.serialize_f64(self.to_f64());
        }
        match self.0 {
            Repr::Decimal(m, k) => Wire::Decimal((zigzag(m) << 4) | u64::from(k)),
            Repr::Float(v) => Wire::Raw(v),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Number, D::Error> {
        if d.is_human_readable() {
            return f64::deserialize(d).map(Number::from_f64);
        }
        Ok(match Wire::deserialize(d)? {
            // Every scale 0..=15 fits the 4 low bits, so `decimal` always answers.
            Wire::Decimal(packed) => Number::decimal(unzigzag(packed >> 4), (packed & 0xf) as u8)
                .ok_or_else(|| serde::de::Error::custom("decimal mantissa out of range"))?,
            // Kept as sent, without looking for a decimal form (that would take double
            // arithmetic); equality compares values, so it equals the decimal.
            Wire::Raw(v) => Number::raw(v),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn f32_readings_cost_what_their_decimals_cost() {
        for (v, m, k) in
            [(21.7f32, 217, 1), (-40.25, -4025, 2), (1013.0, 1013, 0), (0.1, 1, 1), (3.3e-5, 33, 6)]
        {
            assert_eq!(Number::from(v).as_decimal(), Some((m, k)), "{v}");
        }
        assert_eq!(
            postcard::to_allocvec(&Number::from(21.7f32)).unwrap(),
            postcard::to_allocvec(&Number::from(21.7)).unwrap()
        );
        assert_eq!(Number::from(2.0e7f32).as_decimal(), Some((20_000_000, 0)));
        assert_eq!(Number::from(-3.0e17f32).as_decimal(), Some((-3.0e17f32 as i64, 0)));
        assert_eq!(Number::from(1.0e18f32).as_decimal(), None, "beyond 2^59: kept as a double");
        assert_eq!(Number::from(f32::NAN).as_decimal(), None);
        assert!(Number::from(f32::NAN).to_f64().is_nan());
        assert_eq!(Number::from(-0.0f32).to_f64().to_bits(), (-0.0f64).to_bits());
        assert_eq!(Number::from(f32::INFINITY).to_f64(), f64::INFINITY);
    }

    #[test]
    fn decimals_compare_by_value() {
        assert_eq!(Number::decimal(2150, 2), Number::decimal(215, 1));
        assert_ne!(Number::decimal(2151, 2), Number::decimal(215, 1));
        assert_eq!(Number::decimal(2150, 2), Some(Number::from(21.5)));
        assert_eq!(Number::decimal(1, 16), None);
        assert_eq!(Number::decimal(7, 0), Number::integer(7));
        assert_eq!(Number::decimal(1 << 59, 0), None);
        assert_eq!(
            Number::decimal(-(1 << 59) + 1, 0).map(|n| n.as_decimal()),
            Some(Some((-(1 << 59) + 1, 0)))
        );
        assert_ne!(Number::from(f64::NAN), Number::from(f64::NAN));
    }

    proptest! {
        #[test]
        fn zigzag_round_trips(m in any::<i64>()) {
            prop_assert_eq!(unzigzag(zigzag(m)), m);
        }

        #[test]
        fn widening_is_exact(bits in any::<u32>()) {
            let v = f32::from_bits(bits);
            let w = f64::from_bits(crate::ieee::widen(bits));
            if v.is_nan() {
                prop_assert!(w.is_nan());
            } else {
                prop_assert_eq!(w.to_bits(), f64::from(v).to_bits());
            }
        }

        #[test]
        fn an_f32_reads_back_as_itself(bits in any::<u32>()) {
            let v = f32::from_bits(bits);
            let n = Number::from(v);
            let back = n.to_f64() as f32;
            if v.is_nan() {
                prop_assert!(back.is_nan());
            } else {
                prop_assert_eq!(back.to_bits(), v.to_bits());
            }
            // And the wire keeps it.
            let bytes = postcard::to_allocvec(&n).unwrap();
            let decoded: Number = postcard::from_bytes(&bytes).unwrap();
            prop_assert_eq!(decoded.to_f64().to_bits(), n.to_f64().to_bits());
        }

        #[test]
        fn an_f64_round_trips_bit_exact(v in any::<f64>()) {
            let n = Number::from(v);
            prop_assert_eq!(n.to_f64().to_bits(), v.to_bits());
            let bytes = postcard::to_allocvec(&n).unwrap();
            let decoded: Number = postcard::from_bytes(&bytes).unwrap();
            prop_assert_eq!(decoded.to_f64().to_bits(), v.to_bits());
        }

        #[test]
        fn the_shortest_f32_decimal_is_found(m in -9_999_999i32..9_999_999, k in 0u8..=6) {
            let v = m as f32 / POW10_F32[usize::from(k)];
            let (m2, k2) = Number::from(v).as_decimal().expect("a decimal reading has a decimal form");
            prop_assert!(k2 <= k);
            prop_assert_eq!((m2 as f32 / POW10_F32[usize::from(k2)]).to_bits(), v.to_bits());
        }
    }
}

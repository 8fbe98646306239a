//! IEEE 754 conversions done in integer arithmetic.
//!
//! A Cortex-M4F has a single-precision FPU: every `f64` operation there is a call into the
//! soft-float routines, kilobytes of flash a node whose sensors give `f32` or integers should
//! not link. These functions give the same bits as the hardware conversions (property-tested
//! against them on the host) using shifts, integer division and comparisons only.
//!
//! ```
//! use telemetra_core::ieee::narrow;
//! assert_eq!(narrow(21.7), 21.7f32);
//! assert_eq!(narrow(1e300), f32::INFINITY);
//! ```

/// The bits of the `f64` equal to the `f32` with bits `b`.
pub(crate) const fn widen(b: u32) -> u64 {
    let sign = ((b >> 31) as u64) << 63;
    let exp = (b >> 23) & 0xff;
    let frac = (b & 0x7f_ffff) as u64;
    match exp {
        0 if frac == 0 => sign,
        0 => {
            // Subnormal: normalise the fraction.
            let shift = frac.leading_zeros() - 40; // 64 - 24 bits
            let frac = (frac << shift) & 0x7f_ffff;
            let exp = 1023 - 126 - shift as u64;
            sign | (exp << 52) | (frac << 29)
        }
        0xff => sign | (0x7ff << 52) | (frac << 29),
        e => sign | (((e as u64) + 1023 - 127) << 52) | (frac << 29),
    }
}

/// Whether `v` is NaN, by its bits (`f64::is_nan` is `v != v`, a soft-float comparison on a
/// single-precision FPU).
pub fn is_nan(v: f64) -> bool {
    v.to_bits() & !(1 << 63) > 0x7ff << 52
}

/// `v as f32`: the nearest `f32` (ties to even), infinities beyond its range, NaN kept NaN.
pub fn narrow(v: f64) -> f32 {
    let b = v.to_bits();
    let sign = ((b >> 63) as u32) << 31;
    let exp = ((b >> 52) & 0x7ff) as i32;
    let frac = b & ((1 << 52) - 1);
    if exp == 0x7ff {
        // Infinity, or NaN with its payload's top bits (kept quiet).
        let nan = if frac == 0 { 0 } else { 0x40_0000 | (frac >> 29) as u32 };
        return f32::from_bits(sign | 0x7f80_0000 | nan);
    }
    if exp == 0 && frac == 0 {
        return f32::from_bits(sign);
    }
    // The value is m * 2^(e - 52) with m of 53 bits (subnormal doubles are far below f32's
    // range and round to zero below).
    let (m, e) = if exp == 0 { (frac, -1022) } else { (frac | (1 << 52), exp - 1023) };
    // f32 normal: 24 significant bits, exponent -126..=127; below, fewer bits (subnormal).
    let shift = if e >= -126 { 29 } else { 29 + (-126 - e) };
    if shift > 60 {
        // Below half the smallest subnormal: zero.
        return f32::from_bits(sign);
    }
    let kept = round_shift(m, shift as u32);
    let bits = if e >= -126 {
        // `kept` has 24 bits, or 25 when rounding carried into the next power of two.
        let (kept, e) = if kept >> 24 != 0 { (kept >> 1, e + 1) } else { (kept, e) };
        if e > 127 {
            return f32::from_bits(sign | 0x7f80_0000);
        }
        (((e + 127) as u32) << 23) | (kept as u32 & 0x7f_ffff)
    } else {
        // Subnormal; a carry into bit 23 makes it the smallest normal, which the bits encode.
        kept as u32
    };
    f32::from_bits(sign | bits)
}

/// `m >> shift` rounded to nearest, ties to even (`1 <= shift < 64`).
const fn round_shift(m: u64, shift: u32) -> u64 {
    let kept = m >> shift;
    let rest = m & ((1 << shift) - 1);
    let half = 1 << (shift - 1);
    if rest > half || (rest == half && kept & 1 == 1) { kept + 1 } else { kept }
}

/// `m as f64 / 10^k` (`k <= 15`), bit for bit: the integer is rounded to a double first, then
/// divided with one correct rounding, as the two hardware operations do.
pub(crate) fn decimal_to_f64(m: i64, k: u8) -> f64 {
    if m == 0 {
        return 0.0;
    }
    let sign = u64::from(m < 0) << 63;
    // m as f64: 53 significant bits, value = a * 2^e.
    let u = m.unsigned_abs();
    let bits = 64 - u.leading_zeros();
    let (mut a, mut e) = if bits <= 53 {
        (u << (53 - bits), bits as i32 - 53)
    } else {
        let shift = bits - 53;
        (round_shift(u, shift), shift as i32)
    };
    if a >> 53 != 0 {
        a >>= 1;
        e += 1;
    }
    if k > 0 {
        // a / 10^k = (a * 2^64 / 5^k) * 2^-(64 + k). The quotient is found by long division in
        // 16-bit digits by factors of at most 5^4 = 625, so every step is a 32-bit division (one
        // instruction on a Cortex-M; 64-bit division is a kilobyte of library code there).
        let mut digits = [0u16; 8];
        for (i, d) in digits[..4].iter_mut().enumerate() {
            *d = (a >> (48 - 16 * i)) as u16;
        }
        let (mut left, mut inexact) = (u32::from(k), false);
        while left > 0 {
            let step = left.min(4);
            let f = 5u32.pow(step);
            let mut r = 0u32;
            for d in &mut digits {
                let cur = (r << 16) | u32::from(*d);
                *d = (cur / f) as u16;
                r = cur % f;
            }
            inexact |= r != 0;
            left -= step;
        }
        let join = |ds: &[u16]| ds.iter().fold(0u64, |v, &d| (v << 16) | u64::from(d));
        let (hi, lo) = (join(&digits[..4]), join(&digits[4..]));
        // hi is in [2^17, 2^53): the quotient's leading 64 bits start in it.
        let lz = hi.leading_zeros();
        let top = (hi << lz) | (lo >> (64 - lz));
        inexact |= lo << lz != 0;
        let (kept, rest) = (top >> 11, top & 0x7ff);
        let up = rest > 0x400 || (rest == 0x400 && (inexact || kept & 1 == 1));
        a = kept + u64::from(up);
        e += 11 - lz as i32 - i32::from(k);
        if a >> 53 != 0 {
            a >>= 1;
            e += 1;
        }
    }
    // a is in [2^52, 2^53): the value is 1.f * 2^(e + 52), always a normal double here.
    f64::from_bits(sign | (((e + 52 + 1023) as u64) << 52) | (a & ((1 << 52) - 1)))
}

/// `a == b` for doubles (NaN unequal to everything, -0.0 equal to 0.0), by comparing bits.
pub fn same_value(a: f64, b: f64) -> bool {
    let (x, y) = (a.to_bits(), b.to_bits());
    !is_nan(a) && !is_nan(b) && (x == y || (x | y) << 1 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn edge_cases_narrow_like_the_hardware() {
        for v in [
            0.0,
            -0.0,
            1.0,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f32::MAX as f64,
            f32::MAX as f64 * (1.0 + f64::EPSILON),
            f32::MIN_POSITIVE as f64,
            f32::MIN_POSITIVE as f64 / 3.0,
            1.401298464324817e-45,
            0.7e-45,
            0.70000001e-45,
            21.7,
            1e-40,
            3.4028235677973366e38,
        ] {
            assert_eq!(narrow(v).to_bits(), (v as f32).to_bits(), "{v:e}");
        }
        assert!(narrow(f64::NAN).is_nan());
    }

    #[test]
    fn typical_decimals() {
        assert_eq!(decimal_to_f64(215, 1), 21.5);
        assert_eq!(decimal_to_f64(-4025, 2), -40.25);
        assert_eq!(decimal_to_f64(1, 15), 1e-15);
        assert_eq!(decimal_to_f64(i64::MIN, 0), i64::MIN as f64);
        assert!(same_value(0.0, -0.0) && !same_value(f64::NAN, f64::NAN) && !same_value(1.0, 2.0));
    }

    proptest! {
        #[test]
        fn narrowing_matches_the_hardware(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            let (ours, theirs) = (narrow(v), v as f32);
            if theirs.is_nan() {
                prop_assert!(ours.is_nan());
            } else {
                prop_assert_eq!(ours.to_bits(), theirs.to_bits(), "{:e}", v);
            }
        }

        #[test]
        fn narrowing_near_f32_values(bits in any::<u32>(), nudge in -3i64..=3) {
            let v = f64::from_bits((f64::from(f32::from_bits(bits)).to_bits() as i64 + nudge) as u64);
            if !v.is_nan() {
                prop_assert_eq!(narrow(v).to_bits(), (v as f32).to_bits(), "{:e}", v);
            }
        }

        #[test]
        fn decimals_convert_like_the_hardware(m in any::<i64>(), k in 0u8..=15) {
            let theirs = m as f64 / crate::decimal::pow10(k).unwrap();
            prop_assert_eq!(decimal_to_f64(m, k).to_bits(), theirs.to_bits(), "{}e-{}", m, k);
        }

        #[test]
        fn small_decimals_convert_like_the_hardware(m in -100_000_000i64..100_000_000, k in 0u8..=15) {
            let theirs = m as f64 / crate::decimal::pow10(k).unwrap();
            prop_assert_eq!(decimal_to_f64(m, k).to_bits(), theirs.to_bits(), "{}e-{}", m, k);
        }

        #[test]
        fn equality_matches_the_hardware(a in any::<u64>(), b in any::<u64>(), same in any::<bool>()) {
            let (a, b) = (f64::from_bits(a), f64::from_bits(if same { a } else { b }));
            prop_assert_eq!(same_value(a, b), a == b);
            prop_assert_eq!(is_nan(a), a.is_nan());
        }
    }
}

//! The square root of an `f32`, correctly rounded, by integer arithmetic.
//!
//! `core` has no `f32::sqrt` without `std`, and `libm::sqrtf` on a Cortex-M (which libm has no
//! special path for) is a 200-byte routine with a 256-byte table: about 500 bytes of a node's
//! flash for the one aggregate that needs it (`stddev`). This is the classic digit-by-digit
//! root of the significand, a third of that, and gives the same bits as `libm::sqrtf` (a
//! property test compares them over random bit patterns, subnormals and specials included).

/// `√x`, rounded to the nearest `f32` (IEEE 754): NaN for NaN and below zero, `-0` for `-0`.
pub(crate) fn sqrt_f32(x: f32) -> f32 {
    if x.is_nan() || x < 0.0 {
        return f32::NAN;
    }
    if x == 0.0 || x == f32::INFINITY {
        return x;
    }
    let bits = x.to_bits();
    // x = m · 2^(e − 23) with m's leading bit at 2^23.
    let (mut m, mut e) = (bits & 0x7f_ffff, (bits >> 23) as i32 - 127);
    if e == -127 {
        // Subnormal: normalize.
        e = -126;
        while m & 0x80_0000 == 0 {
            m <<= 1;
            e -= 1;
        }
    } else {
        m |= 0x80_0000;
    }
    // An even exponent, so that it halves exactly.
    if e & 1 != 0 {
        m <<= 1;
        e -= 1;
    }
    // √(m · 2^23) has 24 bits: the result's significand.
    let n = u64::from(m) << 23;
    let (mut root, mut rest, mut bit) = (0u64, n, 1u64 << 46);
    while bit != 0 {
        if rest >= root + bit {
            rest -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    // Round to nearest: √n is above root + ½ exactly when n − root² > root (no ties).
    root += u64::from(rest > root);
    // x's root is root · 2^((e − 46) / 2); adding the significand (leading bit included) to
    // the exponent field carries a rounding overflow into the exponent.
    let exponent = ((e - 46) / 2 + 23 + 127 - 1) as u32;
    f32::from_bits((exponent << 23) + root as u32)
}

#[cfg(test)]
mod tests {
    use super::sqrt_f32;
    use proptest::prelude::*;

    fn same(x: f32) -> bool {
        let (ours, libm) = (sqrt_f32(x), libm::sqrtf(x));
        ours.to_bits() == libm.to_bits() || (ours.is_nan() && libm.is_nan())
    }

    #[test]
    fn specials_and_edges() {
        for x in [
            0.0,
            -0.0,
            1.0,
            2.0,
            4.0,
            0.25,
            f32::MAX,
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            f32::from_bits(0x7f_ffff),
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -1.0,
            -f32::from_bits(1),
        ] {
            assert!(same(x), "{x:e}: {} vs {}", sqrt_f32(x), libm::sqrtf(x));
        }
        assert_eq!(sqrt_f32(-0.0).to_bits(), (-0.0f32).to_bits());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(50_000))]

        #[test]
        fn the_bits_of_libm(bits in any::<u32>()) {
            let x = f32::from_bits(bits);
            prop_assert!(same(x), "{:e} ({:#x}): {} vs {}", x, bits, sqrt_f32(x), libm::sqrtf(x));
        }

        #[test]
        fn subnormals(bits in 1u32..0x80_0000) {
            prop_assert!(same(f32::from_bits(bits)));
        }
    }
}

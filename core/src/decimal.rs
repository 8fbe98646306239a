//! Exact decimal forms of `f64` values.
//!
//! Sensor values are usually rounded to a resolution (0.1 °C, 1 hPa, 0.01 V). Such a value `v`
//! has a mantissa `m` and a scale `k` with `m as f64 / 10^k == v` *bit for bit*: division of an
//! integer below 2^53 by an exact power of ten is one correctly rounded IEEE 754 operation, so it
//! gives the same bits on every platform, soft-float Cortex-M included. The wire format and the
//! batch codec store `(m, k)` instead of the 8 raw bytes whenever that identity holds, and fall
//! back to the raw bits otherwise: the value always decodes bit-exact.
//!
//! ```
//! use telemetra_core::decimal::{from_decimal, to_decimal};
//! assert_eq!(to_decimal(21.5), Some((215, 1)));
//! assert_eq!(to_decimal(1013.0), Some((1013, 0)));
//! assert_eq!(to_decimal(0.1 + 0.2), None); // 0.30000000000000004 has no short decimal form
//! assert_eq!(from_decimal(215, 1), Some(21.5));
//! ```

/// The largest scale (number of decimal places) tried: 15.
pub const MAX_SCALE: u8 = 15;

const POW10: [f64; 16] =
    [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/// 2^53: integers of smaller magnitude are exact in `f64`.
const EXACT_INT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// `10^k` as an exact `f64`, for `k <= MAX_SCALE`.
#[inline]
pub fn pow10(k: u8) -> Option<f64> {
    POW10.get(usize::from(k)).copied()
}

/// The value `m / 10^k` (`m as f64 / 10^k`, bit for bit), or `None` when `k > MAX_SCALE`.
///
/// On bare-metal targets (`target_os = "none"`: microcontrollers, whose FPUs have no double
/// precision) it is computed in integer arithmetic, so that reading a decimal links no
/// double-precision soft-float; elsewhere by the FPU. Both give the same bits.
#[inline]
pub fn from_decimal(m: i64, k: u8) -> Option<f64> {
    if cfg!(target_os = "none") {
        (k <= MAX_SCALE).then(|| crate::ieee::decimal_to_f64(m, k))
    } else {
        pow10(k).map(|p| m as f64 / p)
    }
}

/// The mantissa of `v` at scale `k`, if `v` is exactly `m / 10^k` for an `|m| < 2^53`.
#[inline]
pub fn mantissa_at(v: f64, k: u8) -> Option<i64> {
    let p = pow10(k)?;
    let x = v * p;
    // Also rejects NaN and the infinities.
    if !(x > -EXACT_INT_LIMIT && x < EXACT_INT_LIMIT) {
        return None;
    }
    // Round half away from zero without `f64::round` (not in `core`): the check below decides.
    let m = if x >= 0.0 { (x + 0.5) as i64 } else { (x - 0.5) as i64 };
    ((m as f64 / p).to_bits() == v.to_bits()).then_some(m)
}

/// The shortest exact decimal form `(m, k)` of `v`, or `None` if it has none with
/// `k <= MAX_SCALE` (NaN, infinities, `-0.0`, and values like `0.1 + 0.2`).
///
/// If `v` is exact at scale `k` it is exact at every larger scale whose mantissa stays below
/// 2^53 (both divisions round the same real number), so the smallest `k` is the one to keep.
pub fn to_decimal(v: f64) -> Option<(i64, u8)> {
    (0..=MAX_SCALE).find_map(|k| mantissa_at(v, k).map(|m| (m, k)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn typical_sensor_values_have_short_forms() {
        assert_eq!(to_decimal(23.1), Some((231, 1)));
        assert_eq!(to_decimal(-40.25), Some((-4025, 2)));
        assert_eq!(to_decimal(47.376_912_3), Some((473_769_123, 7)));
        assert_eq!(to_decimal(0.0), Some((0, 0)));
        assert_eq!(to_decimal(-0.0), None, "-0.0 must keep its sign, so it goes raw");
        assert_eq!(to_decimal(f64::NAN), None);
        assert_eq!(to_decimal(f64::INFINITY), None);
        assert_eq!(to_decimal(1e300), None);
        assert_eq!(from_decimal(1, 16), None);
    }

    proptest! {
        #[test]
        fn decimal_form_is_bit_exact(v in any::<f64>()) {
            if let Some((m, k)) = to_decimal(v) {
                prop_assert_eq!(from_decimal(m, k).unwrap().to_bits(), v.to_bits());
            }
        }

        #[test]
        fn rounded_values_always_have_a_form(m in -1_000_000_000i64..1_000_000_000, k in 0u8..=6) {
            let v = m as f64 / pow10(k).unwrap();
            let (m2, k2) = to_decimal(v).expect("a value built as m/10^k has a decimal form");
            prop_assert!(k2 <= k);
            prop_assert_eq!(from_decimal(m2, k2).unwrap().to_bits(), v.to_bits());
        }
    }
}

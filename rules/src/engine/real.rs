//! The number type the engine computes in: `f64` on a server, `f32` on a microcontroller.

use core::fmt::Debug;
use core::ops::{Add, Div, Mul, Neg, Sub};

use telemetra_core::{Number, Value};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// The floating-point type an [`Engine`](super::Engine) evaluates rules in: `f64` (the
/// default: servers, gateways) or `f32` (microcontrollers with a single-precision FPU, where
/// every `f64` operation is a soft-float call). Implemented for those two only.
///
/// With `f32` a node links no double-precision arithmetic at all: readings, rule constants and
/// alert values convert by integer arithmetic ([`telemetra_core::ieee`]). The outcome of a
/// rule is the same in both unless a value sits within `f32`'s rounding (about 7 significant
/// digits) of a threshold.
pub trait Real:
    Copy
    + PartialOrd
    + Debug
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + Send
    + Sync
    + 'static
    + sealed::Sealed
{
    /// Not a number.
    const NAN: Self;
    /// Positive infinity.
    const INFINITY: Self;
    /// Negative infinity.
    const NEG_INFINITY: Self;
    /// Zero.
    const ZERO: Self;
    /// One.
    const ONE: Self;
    /// A rule constant (the model keeps them as `f64`), rounded to the nearest.
    fn from_f64(v: f64) -> Self;
    /// A reading's value, if it has a numeric one.
    fn from_value(v: &Value) -> Option<Self>;
    /// A count or a duration in milliseconds.
    fn from_u64(v: u64) -> Self;
    /// The value as a model [`Number`] (for alerts and derived readings).
    fn to_number(self) -> Number;
    /// Neither NaN nor infinite.
    fn is_finite(self) -> bool;
    /// NaN.
    fn is_nan(self) -> bool;
    /// The absolute value.
    fn abs(self) -> Self;
    /// The square root.
    fn sqrt(self) -> Self;
    /// The smaller (the other when one is NaN).
    fn min(self, other: Self) -> Self;
    /// The larger (the other when one is NaN).
    fn max(self, other: Self) -> Self;
}

/// The parts of [`Real`] that are the same for both types; the conversions are given.
macro_rules! real {
    ($t:ident, from_f64: $from_f64:expr, from_value: $from_value:expr, to_number: $to_number:expr,
     abs: $abs:path, sqrt: $sqrt:path) => {
        impl Real for $t {
            const NAN: Self = $t::NAN;
            const INFINITY: Self = $t::INFINITY;
            const NEG_INFINITY: Self = $t::NEG_INFINITY;
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            #[inline]
            fn from_f64(v: f64) -> Self {
                $from_f64(v)
            }
            #[inline]
            fn from_value(v: &Value) -> Option<Self> {
                $from_value(v)
            }
            #[inline]
            fn from_u64(v: u64) -> Self {
                v as $t
            }
            fn to_number(self) -> Number {
                $to_number(self)
            }
            #[inline]
            fn is_finite(self) -> bool {
                $t::is_finite(self)
            }
            #[inline]
            fn is_nan(self) -> bool {
                $t::is_nan(self)
            }
            #[inline]
            fn abs(self) -> Self {
                $abs(self)
            }
            #[inline]
            fn sqrt(self) -> Self {
                $sqrt(self)
            }
            #[inline]
            fn min(self, other: Self) -> Self {
                $t::min(self, other)
            }
            #[inline]
            fn max(self, other: Self) -> Self {
                $t::max(self, other)
            }
        }
    };
}

real!(f64, from_f64: |v| v, from_value: Value::as_f64, to_number: Number::from_f64,
      abs: libm::fabs, sqrt: libm::sqrt);
// Rule constants are narrowed and readings read without any double arithmetic.
real!(f32, from_f64: telemetra_core::ieee::narrow, from_value: Value::as_f32, to_number: Number::from_f32,
      abs: libm::fabsf, sqrt: super::sqrt::sqrt_f32);

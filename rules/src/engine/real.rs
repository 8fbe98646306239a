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

impl Real for f64 {
    const NAN: Self = f64::NAN;
    const INFINITY: Self = f64::INFINITY;
    const NEG_INFINITY: Self = f64::NEG_INFINITY;
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    #[inline]
    fn from_f64(v: f64) -> Self {
        v
    }
    #[inline]
    fn from_value(v: &Value) -> Option<Self> {
        v.as_f64()
    }
    #[inline]
    fn from_u64(v: u64) -> Self {
        v as f64
    }
    fn to_number(self) -> Number {
        Number::from_f64(self)
    }
    #[inline]
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
    #[inline]
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    #[inline]
    fn abs(self) -> Self {
        libm::fabs(self)
    }
    #[inline]
    fn sqrt(self) -> Self {
        libm::sqrt(self)
    }
    #[inline]
    fn min(self, other: Self) -> Self {
        f64::min(self, other)
    }
    #[inline]
    fn max(self, other: Self) -> Self {
        f64::max(self, other)
    }
}

impl Real for f32 {
    const NAN: Self = f32::NAN;
    const INFINITY: Self = f32::INFINITY;
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    #[inline]
    fn from_f64(v: f64) -> Self {
        telemetra_core::ieee::narrow(v)
    }
    #[inline]
    fn from_value(v: &Value) -> Option<Self> {
        v.as_f32()
    }
    #[inline]
    fn from_u64(v: u64) -> Self {
        v as f32
    }
    fn to_number(self) -> Number {
        Number::from_f32(self)
    }
    #[inline]
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
    #[inline]
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    #[inline]
    fn abs(self) -> Self {
        libm::fabsf(self)
    }
    #[inline]
    fn sqrt(self) -> Self {
        libm::sqrtf(self)
    }
    #[inline]
    fn min(self, other: Self) -> Self {
        f32::min(self, other)
    }
    #[inline]
    fn max(self, other: Self) -> Self {
        f32::max(self, other)
    }
}

//! The value of one reading.

use serde::{Deserialize, Serialize};

use crate::{Number, Text};

/// A geographic position (WGS 84).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Location {
    /// Latitude in degrees, positive north.
    pub lat: Number,
    /// Longitude in degrees, positive east.
    pub lon: Number,
    /// Altitude in meters above the WGS 84 ellipsoid, when known.
    pub alt: Option<Number>,
}

impl Location {
    /// A position in degrees.
    pub fn new(lat: f64, lon: f64) -> Location {
        Location { lat: lat.into(), lon: lon.into(), alt: None }
    }

    /// A position in 1e-7 degrees, as GNSS receivers report it (u-blox UBX, NMEA parsers),
    /// and altitude in millimetres: no floating point at all.
    pub fn from_e7(lat_e7: i32, lon_e7: i32, alt_mm: Option<i32>) -> Location {
        let d = |v: i32, k| Number::decimal(i64::from(v), k).unwrap_or(Number::ZERO);
        Location { lat: d(lat_e7, 7), lon: d(lon_e7, 7), alt: alt_mm.map(|a| d(a, 3)) }
    }
}

/// What a sensor reported.
///
/// Numbers keep the decimal form a sensor gives them ([`Number`]): 21.5, 1013 or 47.3769123
/// take 2 to 4 bytes on the wire; other numbers take 8. Firmware types convert without
/// double-precision arithmetic: `f32` (its shortest decimal), the integer types, `bool`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Value {
    /// A measurement (temperature, pressure, power, ...).
    Number(Number),
    /// An integer quantity (a counter, a raw ADC value).
    Integer(i64),
    /// A binary state (door open, motion detected, relay on).
    Bool(bool),
    /// A position.
    Location(Location),
    /// A short text state ("idle", "charging"); at most 48 bytes.
    State(Text),
}

impl Value {
    /// The value as a number: `Number` and `Integer` as themselves, `Bool` as 0 or 1.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(v) => Some(v.to_f64()),
            Value::Integer(i) => Some(*i as f64),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Location(_) | Value::State(_) => None,
        }
    }

    /// The value as an `f32`, without double arithmetic on microcontrollers: `Number` as
    /// [`Number::to_f32`], `Integer` rounded to the nearest `f32`, `Bool` as 0 or 1.
    pub fn as_f32(&self) -> Option<f32> {
        match self {
            Value::Number(v) => Some(v.to_f32()),
            Value::Integer(i) => Some(*i as f32),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Location(_) | Value::State(_) => None,
        }
    }

    /// The value as a [`Number`], without double arithmetic: `Number` itself, `Integer`
    /// (below 2^59 in magnitude) and `Bool` (0 or 1) as integers.
    pub fn as_number(&self) -> Option<Number> {
        match self {
            Value::Number(v) => Some(*v),
            Value::Integer(i) => Number::integer(*i),
            Value::Bool(b) => Number::integer(i64::from(*b)),
            Value::Location(_) | Value::State(_) => None,
        }
    }
}

impl From<Number> for Value {
    fn from(v: Number) -> Self {
        Value::Number(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Number(v.into())
    }
}

impl From<f32> for Value {
    /// The `f32`'s shortest decimal (21.7f32 is 21.7), found in single precision.
    fn from(v: f32) -> Self {
        Value::Number(v.into())
    }
}

macro_rules! integer_values {
    ($($t:ty),*) => {
        $(impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::Integer(i64::from(v))
            }
        })*
    };
}

integer_values!(i64, i32, i16, i8, u32, u16, u8);

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<Location> for Value {
    fn from(v: Location) -> Self {
        Value::Location(v)
    }
}

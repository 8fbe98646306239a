//! The value of one reading.

use serde::{Deserialize, Serialize};

use crate::Text;

/// A geographic position (WGS 84).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Location {
    /// Latitude in degrees, positive north.
    #[serde(with = "crate::compact_f64")]
    pub lat: f64,
    /// Longitude in degrees, positive east.
    #[serde(with = "crate::compact_f64")]
    pub lon: f64,
    /// Altitude in meters above the WGS 84 ellipsoid, when known.
    #[serde(with = "crate::compact_f64::option")]
    pub alt: Option<f64>,
}

/// What a sensor reported.
///
/// Numbers with a short exact decimal form (21.5, 1013, 47.3769123) are stored on the wire as a
/// decimal varint (2 to 4 bytes) and decode to the same `f64` bits; other numbers take 8 bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Value {
    /// A measurement (temperature, pressure, power, ...).
    Number(#[serde(with = "crate::compact_f64")] f64),
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
            Value::Number(v) => Some(*v),
            Value::Integer(i) => Some(*i as f64),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Location(_) | Value::State(_) => None,
        }
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Number(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}

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

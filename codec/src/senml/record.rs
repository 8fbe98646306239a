//! SenML records and their resolution (RFC 8428 section 4.6).

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::SenmlError;
use super::json::{base64_data, number};

/// One SenML record, as it appears in a pack: every field optional, base fields included.
///
/// Its serde form is SenML JSON's (labels `bn`, `bt`, ..., `vd` in base64url); the CBOR
/// encoding with integer labels is [`to_cbor`](super::to_cbor)'s.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Record {
    /// `bn`: base name, prefixed to this and later records' names.
    #[serde(rename = "bn", skip_serializing_if = "Option::is_none")]
    pub base_name: Option<String>,
    /// `bt`: base time in seconds, added to this and later records' times.
    #[serde(rename = "bt", skip_serializing_if = "Option::is_none", serialize_with = "number")]
    pub base_time: Option<f64>,
    /// `bu`: base unit, the unit of later records that give none.
    #[serde(rename = "bu", skip_serializing_if = "Option::is_none")]
    pub base_unit: Option<String>,
    /// `bv`: base value, added to later records' numeric values.
    #[serde(rename = "bv", skip_serializing_if = "Option::is_none", serialize_with = "number")]
    pub base_value: Option<f64>,
    /// `bs`: base sum, added to later records' sums.
    #[serde(rename = "bs", skip_serializing_if = "Option::is_none", serialize_with = "number")]
    pub base_sum: Option<f64>,
    /// `bver`: SenML version of the pack.
    #[serde(rename = "bver", skip_serializing_if = "Option::is_none")]
    pub base_version: Option<u64>,
    /// `n`: name.
    #[serde(rename = "n", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `u`: unit (a SenML unit symbol).
    #[serde(rename = "u", skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// `t`: time in seconds (relative to the base time; below 2^28 relative to now).
    #[serde(rename = "t", skip_serializing_if = "Option::is_none", serialize_with = "number")]
    pub time: Option<f64>,
    /// `ut`: update time, the most seconds until the next record of this name.
    #[serde(rename = "ut", skip_serializing_if = "Option::is_none", serialize_with = "number")]
    pub update_time: Option<f64>,
    /// `v`: numeric value.
    #[serde(rename = "v", skip_serializing_if = "Option::is_none", serialize_with = "number")]
    pub value: Option<f64>,
    /// `vs`: string value.
    #[serde(rename = "vs", skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    /// `vb`: boolean value.
    #[serde(rename = "vb", skip_serializing_if = "Option::is_none")]
    pub bool_value: Option<bool>,
    /// `vd`: data value (bytes; base64url in JSON, a byte string in CBOR).
    #[serde(rename = "vd", skip_serializing_if = "Option::is_none", with = "base64_data")]
    pub data_value: Option<Vec<u8>>,
    /// `s`: sum of the values over time.
    #[serde(rename = "s", skip_serializing_if = "Option::is_none", serialize_with = "number")]
    pub sum: Option<f64>,
}

/// The value of a resolved record.
#[derive(Debug, Clone, PartialEq)]
pub enum ResolvedValue {
    /// `v` (plus any base value).
    Number(f64),
    /// `vs`.
    Text(String),
    /// `vb`.
    Bool(bool),
    /// `vd`.
    Data(Vec<u8>),
}

/// A record with its base fields applied: full name, absolute time, unit and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// Base name plus name.
    pub name: String,
    /// Absolute time in seconds since the Unix epoch.
    pub time: f64,
    /// The unit, from the record or the base unit.
    pub unit: Option<String>,
    /// The value, if the record has one.
    pub value: Option<ResolvedValue>,
    /// The sum (plus any base sum), if the record has one.
    pub sum: Option<f64>,
}

/// Times below 2^28 seconds are relative to "now" (RFC 8428 section 4.5.3).
const RELATIVE_LIMIT: f64 = 268_435_456.0;

/// The highest SenML version this implementation reads.
pub(super) const MAX_VERSION: u64 = 10;

/// Resolves a pack: applies base fields, makes relative times absolute against `now` (seconds
/// since the epoch; the caller's clock, since telemetra reads none), and checks each record.
pub fn resolve(pack: &[Record], now: f64) -> Result<Vec<Resolved>, SenmlError> {
    let (mut bn, mut bt, mut bu, mut bv, mut bs) = ("", 0.0, None, 0.0, 0.0);
    let mut out = Vec::with_capacity(pack.len());
    for (index, r) in pack.iter().enumerate() {
        if let Some(found) = r.base_version.filter(|v| *v > MAX_VERSION) {
            return Err(SenmlError::UnsupportedVersion { found });
        }
        bn = r.base_name.as_deref().unwrap_or(bn);
        bt = r.base_time.unwrap_or(bt);
        bu = r.base_unit.as_deref().or(bu);
        bv = r.base_value.unwrap_or(bv);
        bs = r.base_sum.unwrap_or(bs);
        let values =
            [r.value.is_some(), r.string_value.is_some(), r.bool_value.is_some(), r.data_value.is_some()];
        if values.iter().filter(|v| **v).count() > 1 {
            return Err(SenmlError::MultipleValues { index });
        }
        let mut name = String::from(bn);
        name.push_str(r.name.as_deref().unwrap_or(""));
        if name.is_empty() {
            return Err(SenmlError::NoName { index });
        }
        let mut time = bt + r.time.unwrap_or(0.0);
        if time < RELATIVE_LIMIT {
            time += now;
        }
        let value = if let Some(v) = r.value {
            Some(ResolvedValue::Number(bv + v))
        } else if let Some(s) = &r.string_value {
            Some(ResolvedValue::Text(s.clone()))
        } else if let Some(b) = r.bool_value {
            Some(ResolvedValue::Bool(b))
        } else {
            r.data_value.clone().map(ResolvedValue::Data)
        };
        out.push(Resolved {
            name,
            time,
            unit: r.unit.as_deref().or(bu).map(String::from),
            value,
            sum: r.sum.map(|s| bs + s),
        });
    }
    Ok(out)
}

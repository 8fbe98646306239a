//! SenML JSON (RFC 8428 section 5), by serde_json.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize, Serializer};

use super::record::Record;
use super::{SenmlError, base64url};

/// Numbers as SenML writes them: integral values without a fraction (`-5`, not `-5.0`).
fn number<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match *v {
        Some(x) if is_integral(x) => s.serialize_i64(x as i64),
        Some(x) => s.serialize_f64(x),
        None => s.serialize_none(),
    }
}

/// True for whole numbers that an `i64` holds exactly (not `-0.0`).
pub(super) fn is_integral(x: f64) -> bool {
    x > -9.0e15 && x < 9.0e15 && (x as i64) as f64 == x && !(x == 0.0 && x.is_sign_negative())
}

#[derive(Serialize, Deserialize, Default)]
struct JsonRecord {
    #[serde(rename = "bn", skip_serializing_if = "Option::is_none", default)]
    base_name: Option<String>,
    #[serde(
        rename = "bt",
        skip_serializing_if = "Option::is_none",
        serialize_with = "number",
        default
    )]
    base_time: Option<f64>,
    #[serde(rename = "bu", skip_serializing_if = "Option::is_none", default)]
    base_unit: Option<String>,
    #[serde(
        rename = "bv",
        skip_serializing_if = "Option::is_none",
        serialize_with = "number",
        default
    )]
    base_value: Option<f64>,
    #[serde(
        rename = "bs",
        skip_serializing_if = "Option::is_none",
        serialize_with = "number",
        default
    )]
    base_sum: Option<f64>,
    #[serde(rename = "bver", skip_serializing_if = "Option::is_none", default)]
    base_version: Option<u64>,
    #[serde(rename = "n", skip_serializing_if = "Option::is_none", default)]
    name: Option<String>,
    #[serde(rename = "u", skip_serializing_if = "Option::is_none", default)]
    unit: Option<String>,
    #[serde(
        rename = "t",
        skip_serializing_if = "Option::is_none",
        serialize_with = "number",
        default
    )]
    time: Option<f64>,
    #[serde(
        rename = "ut",
        skip_serializing_if = "Option::is_none",
        serialize_with = "number",
        default
    )]
    update_time: Option<f64>,
    #[serde(
        rename = "v",
        skip_serializing_if = "Option::is_none",
        serialize_with = "number",
        default
    )]
    value: Option<f64>,
    #[serde(rename = "vs", skip_serializing_if = "Option::is_none", default)]
    string_value: Option<String>,
    #[serde(rename = "vb", skip_serializing_if = "Option::is_none", default)]
    bool_value: Option<bool>,
    #[serde(rename = "vd", skip_serializing_if = "Option::is_none", default)]
    data_value: Option<String>,
    #[serde(
        rename = "s",
        skip_serializing_if = "Option::is_none",
        serialize_with = "number",
        default
    )]
    sum: Option<f64>,
    #[serde(flatten, skip_serializing)]
    other: BTreeMap<String, serde::de::IgnoredAny>,
}

/// Reads a SenML JSON pack (an array of records).
pub fn from_json(text: &[u8]) -> Result<Vec<Record>, SenmlError> {
    let records: Vec<JsonRecord> = serde_json::from_slice(text).map_err(|e| SenmlError::Json {
        line: e.line(),
        column: e.column(),
    })?;
    records
        .into_iter()
        .enumerate()
        .map(|(index, r)| {
            if r.other.keys().any(|k| k.ends_with('_')) {
                return Err(SenmlError::MustUnderstand { index });
            }
            let data_value = match r.data_value {
                Some(text) => Some(base64url::decode(&text).ok_or(SenmlError::BadData { index })?),
                None => None,
            };
            Ok(Record {
                base_name: r.base_name,
                base_time: r.base_time,
                base_unit: r.base_unit,
                base_value: r.base_value,
                base_sum: r.base_sum,
                base_version: r.base_version,
                name: r.name,
                unit: r.unit,
                time: r.time,
                update_time: r.update_time,
                value: r.value,
                string_value: r.string_value,
                bool_value: r.bool_value,
                data_value,
                sum: r.sum,
            })
        })
        .collect()
}

/// Writes a SenML JSON pack. Non-finite numbers, which JSON cannot carry, are written as
/// `null` by serde_json; keep them out of SenML.
pub fn to_json(pack: &[Record]) -> String {
    let records: Vec<JsonRecord> = pack
        .iter()
        .map(|r| JsonRecord {
            base_name: r.base_name.clone(),
            base_time: r.base_time,
            base_unit: r.base_unit.clone(),
            base_value: r.base_value,
            base_sum: r.base_sum,
            base_version: r.base_version,
            name: r.name.clone(),
            unit: r.unit.clone(),
            time: r.time,
            update_time: r.update_time,
            value: r.value,
            string_value: r.string_value.clone(),
            bool_value: r.bool_value,
            data_value: r.data_value.as_deref().map(base64url::encode),
            sum: r.sum,
            other: BTreeMap::new(),
        })
        .collect();
    // Serializing plain strings, numbers and booleans into a String cannot fail.
    serde_json::to_string(&records).unwrap_or_default()
}

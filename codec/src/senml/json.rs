//! SenML JSON (RFC 8428 section 5), by serde_json.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serializer};

use super::SenmlError;
use super::record::Record;

/// Numbers as SenML writes them: integral values without a fraction (`-5`, not `-5.0`).
pub(super) fn number<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
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

/// `vd` as base64url text.
pub(super) mod base64_data {
    use alloc::string::String;
    use alloc::vec::Vec;

    use serde::{Deserialize, Deserializer, Serializer};

    use crate::senml::base64url;

    pub(in crate::senml) fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => s.serialize_str(&base64url::encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub(in crate::senml) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => base64url::decode(&text)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom("vd is not valid base64url")),
            None => Ok(None),
        }
    }
}

/// A record and the labels it did not know, to find must-understand ones.
#[derive(Deserialize)]
struct Incoming {
    #[serde(flatten)]
    record: Record,
    #[serde(flatten)]
    other: BTreeMap<String, serde::de::IgnoredAny>,
}

/// Reads a SenML JSON pack (an array of records).
pub fn from_json(text: &[u8]) -> Result<Vec<Record>, SenmlError> {
    let records: Vec<Incoming> =
        serde_json::from_slice(text).map_err(|e| SenmlError::Json { line: e.line(), column: e.column() })?;
    records
        .into_iter()
        .enumerate()
        .map(|(index, r)| match r.other.keys().any(|k| k.ends_with('_')) {
            true => Err(SenmlError::MustUnderstand { index }),
            false => Ok(r.record),
        })
        .collect()
}

/// Writes a SenML JSON pack. Non-finite numbers, which JSON cannot carry, are written as
/// `null` by serde_json; keep them out of SenML.
pub fn to_json(pack: &[Record]) -> String {
    // Serializing strings, numbers and booleans into a String cannot fail.
    serde_json::to_string(pack).unwrap_or_default()
}

//! SenML (RFC 8428) interop: JSON and CBOR packs in and out, base-value resolution, and
//! conversion between SenML records and telemetra readings.
//!
//! ```
//! use telemetra_codec::senml;
//! let pack = senml::from_json(br#"[{"n":"urn:dev:ow:10e2073a01080063","u":"Cel","v":23.1}]"#).unwrap();
//! let cbor = senml::to_cbor(&pack);
//! assert_eq!(senml::from_cbor(&cbor).unwrap(), pack);
//! let r = &senml::resolve(&pack, 0.0).unwrap()[0];
//! assert_eq!(r.name, "urn:dev:ow:10e2073a01080063");
//! assert_eq!(r.unit.as_deref(), Some("Cel"));
//! assert_eq!(r.value, Some(senml::ResolvedValue::Number(23.1)));
//! ```

mod base64url;
mod cbor;
mod convert;
mod json;
mod record;

pub use cbor::{from_cbor, to_cbor};
pub use convert::{from_readings, to_readings};
pub use json::{from_json, to_json};
pub use record::{Record, Resolved, ResolvedValue, resolve};

/// A SenML pack could not be read or converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SenmlError {
    /// The JSON is malformed, or a field has the wrong type (a `vd` that is not base64url
    /// included); the position is where the parser noticed.
    #[error("invalid SenML JSON at line {line}, column {column}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The CBOR is malformed, a field has the wrong type, or bytes follow the pack.
    #[error("invalid SenML CBOR at byte {at}")]
    Cbor {
        /// Byte offset of the fault.
        at: usize,
    },
    /// A field whose label ends in `_` (must-understand, RFC 8428 section 4.4) is present.
    #[error("record {index} has a must-understand field this implementation does not know")]
    MustUnderstand {
        /// The record's position in the pack.
        index: usize,
    },
    /// The pack's version is newer than this implementation (10).
    #[error("SenML version {found} is not supported (this implementation reads up to 10)")]
    UnsupportedVersion {
        /// The `bver` found.
        found: u64,
    },
    /// After resolution a record has an empty name.
    #[error("record {index} has no name")]
    NoName {
        /// The record's position in the pack.
        index: usize,
    },
    /// A record has more than one of `v`, `vs`, `vb`, `vd`.
    #[error("record {index} has more than one value field")]
    MultipleValues {
        /// The record's position in the pack.
        index: usize,
    },
    /// A resolved time is negative, not finite, or too far in the future for a timestamp.
    #[error("record {index} has a time that is not a valid timestamp")]
    BadTime {
        /// The record's position in the pack.
        index: usize,
    },
    /// A text value is longer than a `Value::State` holds.
    #[error("record {index}: text value longer than 48 bytes")]
    TextTooLong {
        /// The record's position in the pack.
        index: usize,
    },
}

#[cfg(test)]
mod tests;

//! The codec's errors. Each is small and `Copy`, and its message says what was wrong.

/// A frame could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is too small; `needed` is an upper bound of what would suffice.
    #[error("output buffer of {available} bytes is too small (up to {needed} needed)")]
    BufferTooSmall {
        /// Bytes available.
        available: usize,
        /// Upper bound of the bytes needed.
        needed: usize,
    },
    /// A value could not be represented (postcard refused it).
    #[error("value cannot be encoded")]
    Unencodable,
    /// More readings than one frame carries; send the rest in another frame or a batch.
    #[error("{count} readings do not fit one frame (at most 16)")]
    TooManyReadings {
        /// How many were given.
        count: usize,
    },
}

/// A byte string is not a valid frame of this build. Decoding never panics and never
/// allocates; every failure is one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DecodeError {
    /// The input has no bytes at all.
    #[error("frame is empty")]
    Empty,
    /// The version byte names a format this build does not read.
    #[error("frame version {found} is not supported (this build reads 1 to {supported})")]
    UnsupportedVersion {
        /// The version in the frame.
        found: u8,
        /// The newest version this build reads (it reads every one from 1).
        supported: u8,
    },
    /// The input ended in the middle of a value.
    #[error("frame is truncated")]
    Truncated,
    /// A varint is longer than its type allows or overflows it.
    #[error("malformed varint in frame")]
    BadVarint,
    /// A text field is not valid UTF-8.
    #[error("text field is not valid UTF-8")]
    BadUtf8,
    /// The message kind is not one of the frame's version (a newer sender, or garbage).
    #[error("unknown message kind {tag} in a version {version} frame")]
    UnknownMessage {
        /// The message tag found.
        tag: u32,
        /// The frame's version.
        version: u8,
    },
    /// A boolean byte is neither 0 nor 1.
    #[error("boolean byte is neither 0 nor 1")]
    BadBool,
    /// An option tag is neither 0 nor 1.
    #[error("option tag is neither 0 nor 1")]
    BadOption,
    /// A field failed validation: an unknown enum variant (message kind, unit, ...), a list
    /// or text over its capacity, or a value out of range.
    #[error("invalid field: unknown variant, list or text over capacity, or value out of range")]
    InvalidField,
    /// The frame is valid but bytes follow it.
    #[error("{extra} unexpected bytes after the end of the frame")]
    TrailingBytes {
        /// How many bytes follow.
        extra: usize,
    },
    /// A [`FrameView`](crate::FrameView) was asked for a kind of message it does not carry.
    #[error("the frame carries a {found:?} message, not the kind asked for")]
    WrongKind {
        /// The kind it carries.
        found: crate::view::MessageKind,
    },
    /// Any other malformation.
    #[error("malformed frame")]
    Malformed,
}

impl From<postcard::Error> for DecodeError {
    fn from(e: postcard::Error) -> Self {
        use postcard::Error as P;
        match e {
            P::DeserializeUnexpectedEnd => DecodeError::Truncated,
            P::DeserializeBadVarint => DecodeError::BadVarint,
            P::DeserializeBadUtf8 | P::DeserializeBadChar => DecodeError::BadUtf8,
            P::DeserializeBadEnum => DecodeError::InvalidField,
            P::DeserializeBadBool => DecodeError::BadBool,
            P::DeserializeBadOption => DecodeError::BadOption,
            P::SerdeDeCustom => DecodeError::InvalidField,
            _ => DecodeError::Malformed,
        }
    }
}

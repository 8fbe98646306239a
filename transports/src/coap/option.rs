//! Option numbers and what RFC 7252 §5.4 and §5.10 (and RFC 7641, 7959, 8613, 7967) say of
//! each: its value format, its length range, whether it may repeat.

/// An option number. Odd numbers are critical (a recipient that does not know one must not
/// ignore it, §5.4.1).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct OptionNumber(pub u16);

/// How an option's value is encoded (§3.2).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    /// No value.
    Empty,
    /// Bytes.
    Opaque,
    /// A non-negative integer, big-endian, without leading zero bytes.
    Uint,
    /// UTF-8 text (Net-Unicode).
    String,
}

/// What the registry says of a known option.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Definition {
    /// Its name.
    pub name: &'static str,
    /// Its value format.
    pub format: Format,
    /// The shortest value allowed.
    pub min_len: u16,
    /// The longest value allowed.
    pub max_len: u16,
    /// Whether it may appear more than once.
    pub repeatable: bool,
}

macro_rules! options {
    ($($name:ident = $num:literal, $text:literal, $format:ident, $min:literal..=$max:literal, $rep:literal;)*) => {
        impl OptionNumber {
            $(
                #[doc = concat!("`", stringify!($num), "` ", $text, ".")]
                pub const $name: OptionNumber = OptionNumber($num);
            )*

            /// What the registry says of this option; `None` for one this implementation does
            /// not know.
            pub const fn definition(self) -> Option<Definition> {
                match self.0 {
                    $($num => Some(Definition {
                        name: $text,
                        format: Format::$format,
                        min_len: $min,
                        max_len: $max,
                        repeatable: $rep,
                    }),)*
                    _ => None,
                }
            }
        }
    };
}

options! {
    IF_MATCH = 1, "If-Match", Opaque, 0..=8, true;
    URI_HOST = 3, "Uri-Host", String, 1..=255, false;
    ETAG = 4, "ETag", Opaque, 1..=8, true;
    IF_NONE_MATCH = 5, "If-None-Match", Empty, 0..=0, false;
    OBSERVE = 6, "Observe", Uint, 0..=3, false;
    URI_PORT = 7, "Uri-Port", Uint, 0..=2, false;
    LOCATION_PATH = 8, "Location-Path", String, 0..=255, true;
    OSCORE = 9, "OSCORE", Opaque, 0..=255, false;
    URI_PATH = 11, "Uri-Path", String, 0..=255, true;
    CONTENT_FORMAT = 12, "Content-Format", Uint, 0..=2, false;
    MAX_AGE = 14, "Max-Age", Uint, 0..=4, false;
    URI_QUERY = 15, "Uri-Query", String, 0..=255, true;
    ACCEPT = 17, "Accept", Uint, 0..=2, false;
    LOCATION_QUERY = 20, "Location-Query", String, 0..=255, true;
    BLOCK2 = 23, "Block2", Uint, 0..=3, false;
    BLOCK1 = 27, "Block1", Uint, 0..=3, false;
    SIZE2 = 28, "Size2", Uint, 0..=4, false;
    PROXY_URI = 35, "Proxy-Uri", String, 1..=1034, false;
    PROXY_SCHEME = 39, "Proxy-Scheme", String, 1..=255, false;
    SIZE1 = 60, "Size1", Uint, 0..=4, false;
    ECHO = 252, "Echo", Opaque, 1..=40, false;
    NO_RESPONSE = 258, "No-Response", Uint, 0..=1, false;
}

impl OptionNumber {
    /// Critical (odd): a recipient that does not know it must not ignore it (§5.4.1).
    pub const fn is_critical(self) -> bool {
        self.0 & 1 == 1
    }

    /// Unsafe to forward (bit 1): a proxy that does not know it must not forward it (§5.4.2).
    pub const fn is_unsafe(self) -> bool {
        self.0 & 2 == 2
    }

    /// Not part of the cache key (§5.4.6; meaningful only for safe-to-forward options).
    pub const fn is_no_cache_key(self) -> bool {
        self.0 & 0x1e == 0x1c
    }
}

/// The value of a `uint` option: big-endian, at most 4 bytes here (longer: `None`).
pub fn uint_value(bytes: &[u8]) -> Option<u32> {
    if bytes.len() > 4 {
        return None;
    }
    Some(bytes.iter().fold(0u32, |v, &b| v << 8 | u32::from(b)))
}

/// `v` as a `uint` option value: big-endian without leading zero bytes (0 is no bytes), in
/// `buf`; returns the used part.
pub fn uint_bytes(v: u32, buf: &mut [u8; 4]) -> &[u8] {
    *buf = v.to_be_bytes();
    let skip = (v.leading_zeros() / 8) as usize;
    &buf[skip..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_follow_the_number() {
        assert!(OptionNumber::URI_PATH.is_critical() && OptionNumber::URI_PATH.is_unsafe());
        assert!(!OptionNumber::ETAG.is_critical());
        assert!(OptionNumber::SIZE1.is_no_cache_key());
        assert!(!OptionNumber::URI_PATH.is_no_cache_key());
        let d = OptionNumber::BLOCK2.definition().unwrap();
        assert_eq!((d.name, d.format, d.max_len, d.repeatable), ("Block2", Format::Uint, 3, false));
        assert!(OptionNumber(2049).definition().is_none());
    }

    #[test]
    fn uints_are_minimal() {
        let mut b = [0u8; 4];
        assert_eq!(uint_bytes(0, &mut b), &[] as &[u8]);
        assert_eq!(uint_bytes(255, &mut b), &[255]);
        assert_eq!(uint_bytes(0x0100, &mut b), &[1, 0]);
        assert_eq!(uint_bytes(u32::MAX, &mut b), &[255; 4]);
        assert_eq!(uint_value(&[1, 0]), Some(256));
        assert_eq!(uint_value(&[]), Some(0));
        assert_eq!(uint_value(&[1, 2, 3, 4, 5]), None);
    }
}

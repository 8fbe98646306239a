//! Bounded text used throughout the model.
//!
//! Strings on the wire have a fixed capacity so that firmware never needs an allocator and a
//! peer can never make a decoder grow without bound. Building one from a longer `&str` fails
//! with [`CapacityError`]; nothing is silently truncated.

/// The capacity of a [`Name`] in bytes.
pub const NAME_CAPACITY: usize = 24;
/// The capacity of a [`Text`] in bytes.
pub const TEXT_CAPACITY: usize = 48;
/// The capacity of a URL (a firmware offer's download address) in bytes.
pub const URL_CAPACITY: usize = 96;

/// A short identifier: channel names, model names, configuration keys, rule names. At most
/// [`NAME_CAPACITY`] = 24 bytes of UTF-8.
pub type Name = heapless::String<NAME_CAPACITY>;

/// A short human-readable text: a state value, an alert message. At most [`TEXT_CAPACITY`] =
/// 48 bytes of UTF-8.
pub type Text = heapless::String<TEXT_CAPACITY>;

/// A value did not fit in its fixed-capacity container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[error("{what} holds at most {capacity} items (got {len})")]
pub struct CapacityError {
    /// What was being filled ("name", "channels", ...).
    pub what: &'static str,
    /// The container's capacity.
    pub capacity: usize,
    /// How many were offered.
    pub len: usize,
}

/// Builds a bounded string, reporting the capacity when `s` is too long.
pub fn bounded<const N: usize>(what: &'static str, s: &str) -> Result<heapless::String<N>, CapacityError> {
    heapless::String::try_from(s).map_err(|_| CapacityError { what, capacity: N, len: s.len() })
}

/// Builds a bounded vector from a slice, reporting the capacity when it is too long.
pub fn bounded_vec<T: Clone, const N: usize>(
    what: &'static str,
    items: &[T],
) -> Result<heapless::Vec<T, N>, CapacityError> {
    heapless::Vec::from_slice(items).map_err(|_| CapacityError { what, capacity: N, len: items.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_long_names_are_refused_not_truncated() {
        let err = bounded::<24>("name", "a-very-long-channel-name-that-does-not-fit").unwrap_err();
        assert_eq!(err.capacity, 24);
        assert_eq!(err.len, 42);
        assert_eq!(bounded::<24>("name", "temperature").unwrap().as_str(), "temperature");
    }
}

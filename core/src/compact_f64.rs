//! Serde helper: an `f64` as a decimal varint when it has a short exact decimal form.
//!
//! Binary formats (postcard) get a two-variant enum: `Decimal(u64)` where the varint packs
//! `zigzag(m) << 4 | k` (21.5 takes 2 bytes), or `Raw(f64)` with the 8 IEEE bytes. Human-readable
//! formats (JSON) get a plain number. Decoding is bit-exact either way.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::decimal;

#[derive(Serialize, Deserialize)]
enum Wire {
    Decimal(u64),
    Raw(f64),
}

fn zigzag(m: i64) -> u64 {
    ((m << 1) ^ (m >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

fn to_wire(v: f64) -> Wire {
    match decimal::to_decimal(v) {
        Some((m, k)) => Wire::Decimal((zigzag(m) << 4) | u64::from(k)),
        None => Wire::Raw(v),
    }
}

fn from_wire(w: Wire) -> Option<f64> {
    match w {
        Wire::Raw(v) => Some(v),
        Wire::Decimal(packed) => decimal::from_decimal(unzigzag(packed >> 4), (packed & 0xf) as u8),
    }
}

pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() { s.serialize_f64(*v) } else { to_wire(*v).serialize(s) }
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    if d.is_human_readable() {
        f64::deserialize(d)
    } else {
        // Every scale 0..=15 fits the 4 low bits and is valid, so this cannot fail today; the
        // check stays so that a future narrower MAX_SCALE rejects instead of panicking.
        from_wire(Wire::deserialize(d)?).ok_or_else(|| serde::de::Error::custom("decimal scale out of range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Serialize, Deserialize, Debug)]
    struct Holder(#[serde(with = "super")] f64);

    #[test]
    fn rounded_values_are_small() {
        assert_eq!(postcard::to_allocvec(&Holder(21.5)).unwrap().len(), 3);
        assert_eq!(postcard::to_allocvec(&Holder(0.1 + 0.2)).unwrap().len(), 9);
        assert_eq!(serde_json::to_string(&Holder(21.5)).unwrap(), "21.5");
    }

    proptest! {
        #[test]
        fn zigzag_round_trips(m in any::<i64>()) {
            prop_assert_eq!(unzigzag(zigzag(m)), m);
        }

        #[test]
        fn postcard_round_trip_is_bit_exact(v in any::<f64>()) {
            let bytes = postcard::to_allocvec(&Holder(v)).unwrap();
            let back: Holder = postcard::from_bytes(&bytes).unwrap();
            prop_assert_eq!(back.0.to_bits(), v.to_bits());
        }
    }
}

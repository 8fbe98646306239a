//! Serde helper: an `f64` field on the wire as a [`Number`](crate::Number): a decimal varint
//! when it has a short exact decimal form (21.5 takes 2 bytes), otherwise the 8 IEEE bytes.
//! Human-readable formats (JSON) get a plain number. Decoding is bit-exact either way. The
//! rule model's constants use it; readings hold `Number`s themselves.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Number;

pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    Number::from_f64(*v).serialize(s)
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Number::deserialize(d).map(Number::to_f64)
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
        fn postcard_round_trip_is_bit_exact(v in any::<f64>()) {
            let bytes = postcard::to_allocvec(&Holder(v)).unwrap();
            let back: Holder = postcard::from_bytes(&bytes).unwrap();
            prop_assert_eq!(back.0.to_bits(), v.to_bits());
        }
    }
}

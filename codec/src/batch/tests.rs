use super::*;
use proptest::prelude::*;
use std::vec::Vec;

fn round_trip(points: &[(Timestamp, f64)]) -> Vec<u8> {
    let bytes = encode_to_vec(points).unwrap();
    assert!(bytes.len() <= max_encoded_len(points.len()));
    let back = decode_to_vec(&bytes).unwrap();
    assert_eq!(back.len(), points.len());
    for (a, b) in back.iter().zip(points) {
        assert_eq!(a.0, b.0);
        assert_eq!(a.1.to_bits(), b.1.to_bits(), "value {} came back as {}", b.1, a.1);
    }
    bytes
}

/// A periodic temperature-like channel: a bounded random walk rounded to 0.1.
pub(crate) fn periodic_tenths(n: usize) -> Vec<(Timestamp, f64)> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut tenths: i64 = 215;
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            tenths = (tenths + (state % 5) as i64 - 2).clamp(150, 300);
            (Timestamp(1_700_000_000_000 + i as u64 * 10_000), tenths as f64 / 10.0)
        })
        .collect()
}

#[test]
fn golden_small_batch() {
    let points =
        [(Timestamp(1000), 21.5), (Timestamp(2000), 21.6), (Timestamp(3000), 21.4), (Timestamp(4000), 21.4)];
    let bytes = round_trip(&points);
    // version 1, count 4, t0 1000, d0 +1000 (zigzag 2000), timestamp section of 2 bytes
    // (width 0 and no bits), then a decimal block at scale 1 with no exceptions: m0 215 (zigzag 430), width 3,
    // deltas +1 -2 0 as zigzag 2 3 0 in 2 bits each.
    assert_eq!(bytes, [1, 4, 0xe8, 0x07, 0xd0, 0x0f, 1, 0, 1, 0, 0xae, 0x03, 2, 0x0e]);
}

#[test]
fn empty_and_single_batches() {
    assert_eq!(round_trip(&[]), [1, 0]);
    round_trip(&[(Timestamp(u64::MAX), f64::NAN)]);
    round_trip(&[(Timestamp(5), -0.0), (Timestamp(3), f64::NEG_INFINITY)]);
}

#[test]
fn a_periodic_tenths_series_costs_under_a_byte_per_reading() {
    let points = periodic_tenths(1000);
    let bytes = round_trip(&points);
    assert!(bytes.len() < 1000, "{} bytes", bytes.len());
}

#[test]
fn blocks_fall_back_to_xor_and_back() {
    let mut points = periodic_tenths(400);
    points[130].1 = 0.1 + 0.2; // spoils the decimal form of the second block only
    points[131].1 = f64::NAN;
    let bytes = round_trip(&points);
    assert!(bytes.len() < 300, "{} bytes", bytes.len());
}

#[test]
fn errors_name_what_was_wrong() {
    let bytes = encode_to_vec(&periodic_tenths(300)).unwrap();
    let mut v2 = bytes.clone();
    v2[0] = 2;
    assert_eq!(decode_to_vec(&v2), Err(BatchError::UnsupportedVersion { found: 2, supported: 1 }));
    let mut extra = bytes.clone();
    extra.push(0);
    assert_eq!(decode_to_vec(&extra), Err(BatchError::TrailingBytes { extra: 1 }));
    for cut in 0..bytes.len() {
        assert!(decode_to_vec(&bytes[..cut]).is_err(), "a batch cut at {cut} decoded");
    }
    // A billion samples in five bytes.
    assert!(matches!(
        decode_to_vec(&[1, 0x80, 0x94, 0xeb, 0xdc, 0x03]),
        Err(BatchError::ImplausibleCount { .. })
    ));
    assert_eq!(decode_to_vec(&[1, 1, 0, 0, 0x7f]), Err(BatchError::BadMode { mode: 0x7f }));
}

#[test]
fn decode_into_reports_a_short_output() {
    let bytes = encode_to_vec(&periodic_tenths(10)).unwrap();
    let mut out = [(Timestamp(0), 0.0); 4];
    assert_eq!(decode_into(&bytes, &mut out), Err(BatchError::OutputTooSmall { capacity: 4, count: 10 }));
    let mut out = [(Timestamp(0), 0.0); 10];
    assert_eq!(decode_into(&bytes, &mut out), Ok(10));
}

fn series() -> impl Strategy<Value = Vec<(Timestamp, f64)>> {
    let value = prop_oneof![
        3 => (-5000i64..5000, 0u8..3).prop_map(|(m, k)| m as f64 / 10f64.powi(k.into())),
        1 => any::<f64>(),
        1 => Just(f64::NAN),
    ];
    let ts = prop_oneof![
        (0u64..2_000_000_000_000, 1u64..100_000).prop_map(|(t0, step)| (t0, step, false)),
        (any::<u64>(), any::<u64>()).prop_map(|(t0, step)| (t0, step, true)),
    ];
    (ts, proptest::collection::vec((value, 0u64..50), 0..400)).prop_map(|((t0, step, wild), vals)| {
        let mut t = t0;
        vals.into_iter()
            .map(|(v, jitter)| {
                t = if wild {
                    t.wrapping_mul(6364136223846793005).wrapping_add(step)
                } else {
                    t + step + jitter
                };
                (Timestamp(t), v)
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn any_series_round_trips_bit_exact(points in series()) {
        round_trip(&points);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut n = 0u64;
        let _ = decode_with(&bytes, |_, _| n += 1);
        prop_assert!(n <= 300 * 64);
    }

    #[test]
    fn corrupted_batches_never_panic(points in series(), at in any::<proptest::sample::Index>(), x in 1u8..=255) {
        let mut bytes = encode_to_vec(&points).unwrap();
        if !bytes.is_empty() {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
            let _ = decode_to_vec(&bytes);
        }
    }
}

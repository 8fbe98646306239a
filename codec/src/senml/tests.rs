//! The examples of RFC 8428 section 5 and the CBOR example of section 6.

use std::string::String;
use std::vec::Vec;

use super::*;
use telemetra_core::text::bounded;
use telemetra_core::{
    ChannelId, ChannelSpec, Device, DeviceId, FirmwareVersion, Quantity, Reading, Timestamp, Unit, Value,
};

const SINGLE: &str = r#"[{"n":"urn:dev:ow:10e2073a01080063","u":"Cel","v":23.1}]"#;

const MULTIPLE_DATAPOINTS: &str = r#"[
     {"bn":"urn:dev:ow:10e2073a01080063:","n":"voltage","u":"V","v":120.1},
     {"n":"current","u":"A","v":1.2}
   ]"#;

const MULTIPLE_MEASUREMENTS: &str = r#"[
     {"bn":"urn:dev:ow:10e2073a0108006:","bt":1.276020076001e+09,
      "bu":"A","bver":5,
      "n":"voltage","u":"V","v":120.1},
     {"n":"current","t":-5,"v":1.2},
     {"n":"current","t":-4,"v":1.3},
     {"n":"current","t":-3,"v":1.4},
     {"n":"current","t":-2,"v":1.5},
     {"n":"current","t":-1,"v":1.6},
     {"n":"current","v":1.7}
   ]"#;

const MULTIPLE_TYPES: &str = r#"[
     {"bn":"urn:dev:ow:10e2073a01080063:","n":"temperature","u":"Cel","v":23.1},
     {"n":"label","vs":"Machine Room"},
     {"n":"open","vb":false},
     {"n":"nfc-reader","vd":"aGkgCg"}
   ]"#;

/// RFC 8428 section 6: the multiple-measurements example in CBOR.
const MULTIPLE_MEASUREMENTS_CBOR: &str = "\
    87 a7 21 78 1b 75 72 6e 3a 64 65 76 3a 6f 77 3a 31 30 65 32 30 37 33 61 30 31 30 38 30 30 36 3a \
    22 fb 41 d3 03 a1 5b 00 10 62 23 61 41 20 05 00 67 76 6f 6c 74 61 67 65 01 61 56 02 fb 40 5e 06 \
    66 66 66 66 66 a3 00 67 63 75 72 72 65 6e 74 06 24 02 fb 3f f3 33 33 33 33 33 33 a3 00 67 63 75 \
    72 72 65 6e 74 06 23 02 fb 3f f4 cc cc cc cc cc cd a3 00 67 63 75 72 72 65 6e 74 06 22 02 fb 3f \
    f6 66 66 66 66 66 66 a3 00 67 63 75 72 72 65 6e 74 06 21 02 f9 3e 00 a3 00 67 63 75 72 72 65 6e \
    74 06 20 02 fb 3f f9 99 99 99 99 99 9a a2 00 67 63 75 72 72 65 6e 74 02 fb 3f fb 33 33 33 33 33 \
    33";

fn unhex(s: &str) -> Vec<u8> {
    s.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
}

#[test]
fn single_datapoint() {
    let pack = from_json(SINGLE.as_bytes()).unwrap();
    assert_eq!(pack.len(), 1);
    assert_eq!(to_json(&pack), SINGLE, "our JSON of the RFC example is the RFC's, byte for byte");
    assert_eq!(SINGLE.len(), 56);
}

#[test]
fn multiple_datapoints_resolve_names() {
    let pack = from_json(MULTIPLE_DATAPOINTS.as_bytes()).unwrap();
    let r = resolve(&pack, 1_700_000_000.0).unwrap();
    assert_eq!(r[0].name, "urn:dev:ow:10e2073a01080063:voltage");
    assert_eq!(r[1].name, "urn:dev:ow:10e2073a01080063:current");
    assert_eq!(r[1].unit.as_deref(), Some("A"));
    assert_eq!(r[0].time, 1_700_000_000.0, "no time means now");
}

#[test]
fn multiple_measurements_resolve_times_and_base_unit() {
    let pack = from_json(MULTIPLE_MEASUREMENTS.as_bytes()).unwrap();
    let r = resolve(&pack, 0.0).unwrap();
    assert_eq!(r.len(), 7);
    assert_eq!(r[0].unit.as_deref(), Some("V"));
    assert_eq!(r[1].unit.as_deref(), Some("A"), "bu applies where u is absent");
    assert_eq!(r[1].time, 1.276020076001e9 - 5.0);
    assert_eq!(r[6].time, 1.276020076001e9);
    assert_eq!(r[4].value, Some(ResolvedValue::Number(1.5)));
}

#[test]
fn the_rfc_cbor_example_decodes_to_the_json_example_and_encodes_back_byte_for_byte() {
    let cbor = unhex(MULTIPLE_MEASUREMENTS_CBOR);
    let from_cbor = from_cbor(&cbor).unwrap();
    let from_json = from_json(MULTIPLE_MEASUREMENTS.as_bytes()).unwrap();
    assert_eq!(from_cbor, from_json);
    assert_eq!(to_cbor(&from_json), cbor);
}

#[test]
fn multiple_data_types() {
    let pack = from_json(MULTIPLE_TYPES.as_bytes()).unwrap();
    assert_eq!(pack[1].string_value.as_deref(), Some("Machine Room"));
    assert_eq!(pack[2].bool_value, Some(false));
    assert_eq!(pack[3].data_value.as_deref(), Some(&b"hi \n"[..]));
    assert_eq!(from_json(to_json(&pack).as_bytes()).unwrap(), pack);
    assert_eq!(from_cbor(&to_cbor(&pack)).unwrap(), pack);
}

#[test]
fn bad_packs_get_clear_errors() {
    assert_eq!(from_json(b"[{\"n\":1}]"), Err(SenmlError::Json { line: 1, column: 8 }));
    assert_eq!(from_json(b"[{\"n\":\"x\"}"), Err(SenmlError::Json { line: 1, column: 10 }));
    assert_eq!(from_json(br#"[{"n":"x","v":1,"foo_":2}]"#), Err(SenmlError::MustUnderstand { index: 0 }));
    assert!(matches!(from_json(br#"[{"n":"x","vd":"*"}]"#), Err(SenmlError::Json { .. })));
    let two = from_json(br#"[{"n":"x","v":1,"vb":true}]"#).unwrap();
    assert_eq!(resolve(&two, 0.0), Err(SenmlError::MultipleValues { index: 0 }));
    let nameless = from_json(br#"[{"v":1}]"#).unwrap();
    assert_eq!(resolve(&nameless, 0.0), Err(SenmlError::NoName { index: 0 }));
    let future = from_json(br#"[{"bver":11,"n":"x","v":1}]"#).unwrap();
    assert_eq!(resolve(&future, 0.0), Err(SenmlError::UnsupportedVersion { found: 11 }));
    // A CBOR array claiming a billion records in six bytes: an error, no huge allocation.
    assert!(matches!(from_cbor(&[0x9a, 0x3b, 0x9a, 0xca, 0x00, 0xa0]), Err(SenmlError::Cbor { .. })));
    assert!(matches!(from_cbor(&[0x81, 0xa0, 0x00]), Err(SenmlError::Cbor { at: 2 })));
}

fn meter() -> Device {
    let ch = |id, name, quantity, unit| ChannelSpec {
        id: ChannelId(id),
        name: bounded("name", name).unwrap(),
        quantity,
        unit,
        period_ms: 5000,
    };
    Device {
        id: DeviceId(0x10e2),
        model: bounded("model", "meter").unwrap(),
        firmware: FirmwareVersion::new(1, 0, 0),
        channels: heapless::Vec::from_slice(&[
            ch(1, "voltage", Quantity::Voltage, Unit::Volt),
            ch(2, "current", Quantity::Current, Unit::Ampere),
        ])
        .unwrap(),
        tags: heapless::Vec::new(),
    }
}

#[test]
fn rfc_records_become_readings_of_a_device() {
    let pack = from_json(MULTIPLE_MEASUREMENTS.as_bytes()).unwrap();
    let (readings, skipped) = to_readings(&pack, &meter(), 0.0).unwrap();
    assert!(skipped.is_empty());
    assert_eq!(readings.len(), 7);
    assert_eq!(readings[0], Reading::new(ChannelId(1), Timestamp(1_276_020_076_001), 120.1));
    assert_eq!(readings[1], Reading::new(ChannelId(2), Timestamp(1_276_020_071_001), 1.2));
    let (_, skipped) = to_readings(&from_json(MULTIPLE_TYPES.as_bytes()).unwrap(), &meter(), 0.0).unwrap();
    assert_eq!(skipped.len(), 4, "no channel of the meter matches: {skipped:?}");
}

#[test]
fn readings_round_trip_through_senml() {
    let device = meter();
    let readings = [
        Reading::new(ChannelId(1), Timestamp(1_700_000_000_123), 230.4),
        Reading::new(ChannelId(2), Timestamp(1_700_000_005_123), 1.25),
        Reading::new(ChannelId(2), Timestamp(1_700_000_010_123), Value::Bool(true)),
    ];
    let pack = from_readings(&device, &readings);
    assert_eq!(pack[0].base_name.as_deref(), Some("urn:dev:telemetra:10e2:"));
    let json: String = to_json(&pack);
    let (back, skipped) = to_readings(&from_json(json.as_bytes()).unwrap(), &device, 0.0).unwrap();
    assert!(skipped.is_empty());
    assert_eq!(back, readings);
    let (back, _) = to_readings(&from_cbor(&to_cbor(&pack)).unwrap(), &device, 0.0).unwrap();
    assert_eq!(back, readings);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = from_cbor(&bytes);
            let _ = from_json(&bytes);
        }

        #[test]
        fn numbers_survive_cbor_bit_exact(v in any::<f64>().prop_filter("finite", |v| v.is_finite())) {
            let pack = std::vec![Record { name: Some("x".into()), value: Some(v), ..Record::default() }];
            let back = from_cbor(&to_cbor(&pack)).unwrap();
            prop_assert_eq!(back[0].value.unwrap().to_bits(), v.to_bits());
        }
    }
}

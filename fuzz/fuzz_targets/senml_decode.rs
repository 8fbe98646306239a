//! Any bytes as SenML CBOR and JSON: an error or a pack, never a panic; a CBOR pack re-encodes
//! and decodes to the same records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetra_codec::senml;

fuzz_target!(|data: &[u8]| {
    if let Ok(pack) = senml::from_cbor(data) {
        let again = senml::from_cbor(&senml::to_cbor(&pack)).expect("re-encoded CBOR decodes");
        assert_eq!(again.len(), pack.len());
        let _ = senml::resolve(&pack, 0.0);
    }
    if let Ok(pack) = senml::from_json(data) {
        let _ = senml::resolve(&pack, 0.0);
        let _ = senml::to_json(&pack);
    }
});

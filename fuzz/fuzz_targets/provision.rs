//! Provisioning messages fed arbitrary bytes: a claim request and a claim response decode or
//! name what was wrong, never panic, and whatever decodes encodes to bytes that decode to the same message (postcard
//! accepts overlong varints, so the bytes themselves may differ).
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetra_codec::provision::{ClaimRequest, ClaimResponse, MAX_RESPONSE_LEN};

fuzz_target!(|data: &[u8]| {
    let mut buf = [0u8; MAX_RESPONSE_LEN];
    if let Ok(req) = ClaimRequest::decode(data) {
        assert!(telemetra_core::route::is_claim_id(req.claim));
        let again = req.encode(&mut buf).unwrap();
        assert_eq!(ClaimRequest::decode(again).unwrap(), req);
    }
    if let Ok(resp) = ClaimResponse::decode(data) {
        let again = resp.encode(&mut buf).unwrap();
        assert_eq!(ClaimResponse::decode(again).unwrap(), resp);
    }
});
